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
