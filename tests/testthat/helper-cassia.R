# Shared by every test file: the engine requirement, the fake server and the example data.

on_ci <- function() identical(tolower(Sys.getenv("CI")), "true")

# Tests that need the Python engine call this first. Without the engine they skip locally but
# FAIL under CI=true: a skipped suite must never look like a passing one.
require_engine <- function() {
  ok <- tryCatch({
    CASSIA:::cassia_engine()
    TRUE
  }, error = function(err) conditionMessage(err))
  if (isTRUE(ok)) return(invisible(TRUE))
  if (on_ci()) stop("CI=true and the CASSIA engine is not available: ", ok, call. = FALSE)
  testthat::skip(paste("CASSIA engine not available:", ok))
}

# One fake LLM server per test file that asks for it, stopped when the file's tests end.
fake_server_url <- local({
  server <- NULL
  function() {
    require_engine()
    if (is.null(server) || !server$process$is_alive()) {
      server <<- CASSIA::cassia_fake_server()
      withr::defer(server$stop(), envir = testthat::teardown_env())
    }
    server$url
  }
})

# A fake server that fails every request about cluster "2" of the example (its marker FCER2
# appears in no other cluster's prompt): cluster 2 fails, clusters 0 and 1 succeed.
failing_server_url <- local({
  server <- NULL
  function() {
    require_engine()
    if (is.null(server) || !server$process$is_alive()) {
      server <<- CASSIA::cassia_fake_server(args = c("--fail-when", "FCER2"))
      withr::defer(server$stop(), envir = testthat::teardown_env())
    }
    server$url
  }
})

# A URL where nothing listens: a run that reached it would fail with a connection error, so a
# test expecting an input error there proves the input was rejected before any model call.
dead_url <- function() "http://127.0.0.1:9/v1"

run_dir <- function() tempfile("cassia-run-")

pbmc <- function() {
  env <- new.env()
  utils::data("pbmc_small", package = "SeuratObject", envir = env)
  env$pbmc_small
}

summary_columns <- c(
  "Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type", "Possible Mixed Cell Types",
  "Marker Number", "Marker List", "Iterations", "Model", "Provider", "Tissue", "Species", "Score",
  "Scoring Reasoning", "Cell Ontology ID", "Subtypes", "Validated", "Boosted", "Status", "Error", "Tokens",
  "Cost USD"
)

# Tests that need an R package from Suggests (Seurat, SeuratObject, callr): skipped locally when
# it is missing, a FAILURE under CI=true, where every Seurat test must run.
require_package <- function(pkg) {
  if (requireNamespace(pkg, quietly = TRUE)) return(invisible(TRUE))
  if (on_ci()) stop("CI=true and the R package ", pkg, " is not installed", call. = FALSE)
  testthat::skip(paste(pkg, "is not installed"))
}

# A Python interpreter that runs but does not have the engine: a bare virtualenv made from the
# engine's own interpreter (so reticulate can start it), created once per test run.
python_without_engine <- local({
  made <- NULL
  function() {
    if (!is.null(made)) return(made)
    engine <- CASSIA:::cassia_engine()$path
    dir <- tempfile("bare-venv-")
    status <- CASSIA:::with_python_libpath(engine, system2(engine, c("-m", "venv", "--without-pip", dir),
                                                           stdout = FALSE, stderr = FALSE))
    python <- file.path(dir, "bin", "python")
    if (!identical(as.integer(status), 0L) || !file.exists(python)) stop("could not make a bare virtualenv")
    made <<- python
    python
  }
})

# Environment for a fresh R session (callr) that finds the engine only through the record
# cassia_install_engine() writes: no RETICULATE_PYTHON, no options, run from another folder.
fresh_session_env <- function() {
  config <- tempfile("cassia-config-")
  engine <- CASSIA:::cassia_engine()$path
  CASSIA:::write_engine_record(file.path(config, "R", "CASSIA", "engine.dcf"), engine)
  c(callr::rcmd_safe_env(), RETICULATE_PYTHON = "", R_USER_CONFIG_DIR = config, R_USER_DATA_DIR = tempfile())
}
