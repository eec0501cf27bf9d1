test_that("loading the package imports no Python and builds nothing", {
  require_package("callr")
  loaded <- callr::r(function() {
    library(CASSIA)
    c(python_started = reticulate::py_available(initialize = FALSE),
      venv_made = dir.exists(CASSIA:::cassia_default_venv()))
  }, env = c(callr::rcmd_safe_env(), R_USER_DATA_DIR = tempfile()))
  expect_false(loaded[["python_started"]])
  expect_false(loaded[["venv_made"]])
})

test_that("engine candidates follow the documented order", {
  withr::local_options(cassia.python = "/opt/custom/bin/python")
  withr::local_envvar(RETICULATE_PYTHON = "/opt/reticulate/bin/python")
  candidates <- CASSIA:::cassia_python_candidates()
  sources <- vapply(candidates, `[[`, "", "source")
  expect_identical(sources[1:2], c("options(cassia.python)", "RETICULATE_PYTHON"))
  expect_identical(candidates[[1]]$path, "/opt/custom/bin/python")
  expect_identical(sources[[length(sources)]], "cassia_install_engine() virtualenv")
})

# A copy of the installed package without the engine record the project's set-up writes: the
# R package as someone would have it who installed only the package.
package_without_record <- function() {
  lib <- tempfile("cassia-lib-")
  dir.create(lib)
  file.copy(system.file(package = "CASSIA"), lib, recursive = TRUE)
  unlink(file.path(lib, "CASSIA", "engine.dcf"))
  lib
}

# A fresh R session with `lib` first that runs a batch: the error's class and message (no engine
# reachable: RETICULATE_PYTHON empty, the user folders new).
batch_error_without_engine <- function(lib) {
  callr::r(function() {
    tryCatch({
      CASSIA::runCASSIA_batch(CASSIA::loadExampleMarkers(), provider = "offline")
      "no error"
    }, error = function(e) c(class(e)[1], conditionMessage(e)))
  }, env = c(callr::rcmd_safe_env(), RETICULATE_PYTHON = "", R_USER_DATA_DIR = tempfile(),
             R_USER_CONFIG_DIR = tempfile()),
  libpath = c(lib, .libPaths()), wd = tempdir())
}

test_that("without any engine the error says how to install one", {
  require_package("callr")
  lib <- package_without_record()
  err <- batch_error_without_engine(lib)
  expect_identical(err[[1]], "cassia_engine_missing")
  expect_match(err[[2]], "cassia_install_engine()", fixed = TRUE)
  expect_match(err[[2]], "cassia_doctor()", fixed = TRUE)
})

test_that("with the engine's source recorded but no engine, the error names the plain call", {
  require_package("callr")
  lib <- package_without_record()
  write.dcf(data.frame(Python = file.path(tempdir(), "gone", "python"), Source = tempdir()),
            file.path(lib, "CASSIA", "engine.dcf"))
  err <- batch_error_without_engine(lib)
  expect_identical(err[[1]], "cassia_engine_missing")
  expect_match(err[[2]], paste0("cassia_install_engine() (it installs the engine from ", tempdir(), ")"),
               fixed = TRUE)
  expect_false(grepl("/path/to/CASSIA", err[[2]], fixed = TRUE))
})

test_that("cassia_doctor reports the engine and which keys are set, never the keys", {
  require_engine()
  secret <- "sk-doctor-test-0123456789abcdef"
  withr::local_envvar(DEEPSEEK_API_KEY = secret)
  report <- cassia_doctor()
  expect_s3_class(report, "data.frame")
  expect_identical(names(report), c("check", "status", "detail"))
  engine <- report[report$check == "engine", ]
  expect_identical(engine$status, "ok")
  expect_match(engine$detail, "^cassia-annotate [0-9]")
  bridge <- report[report$check == "bridge", ]
  expect_identical(bridge$status, CASSIA:::bridge_transport())
  expect_match(bridge$detail, "reticulate|separate Python process")
  printed <- paste(capture.output(print(report)), collapse = "\n")
  expect_false(grepl(secret, printed, fixed = TRUE))
  expect_false(any(grepl(secret, unlist(report), fixed = TRUE)))
  expect_match(printed, "key: openai")
})

test_that("cassia_install_engine refuses a folder that is not a CASSIA checkout", {
  not_checkout <- tempfile("not-cassia-")
  dir.create(not_checkout)
  expect_error(cassia_install_engine(not_checkout, envname = tempfile()), "no pyproject.toml",
               class = "cassia_InputError")
  expect_error(cassia_install_engine(""), "must be the path of a CASSIA checkout", class = "cassia_InputError")
})

test_that("cassia_install_engine never installs PyPI's unrelated cassia, and defaults to the recorded source", {
  for (source in c("cassia", "cassia==1.4.0", "CASSIA>=1", "cassia[all]")) {
    expect_error(cassia_install_engine(source, envname = tempfile()), "different program",
                 class = "cassia_InputError")
  }
  withr::local_envvar(R_USER_CONFIG_DIR = tempfile())
  record <- CASSIA:::read_engine_record(CASSIA:::cassia_package_record())
  if (length(record)) {
    # installed by the project's set-up: the engine's source is this package's checkout
    expect_identical(CASSIA:::cassia_engine_source(), record$Source)
  } else {
    expect_error(CASSIA:::cassia_engine_source(), "does not know where its engine's source is",
                 class = "cassia_InputError")
  }
})

test_that("cassia_install_engine creates the virtualenv, pip-installs the checkout with extras, and uses it", {
  skip_on_os("windows")
  source_dir <- tempfile("cassia-src-")
  dir.create(source_dir)
  writeLines("[project]\nname = \"cassia-annotate\"", file.path(source_dir, "pyproject.toml"))
  # A stand-in interpreter: `-m venv DIR` makes DIR/bin/python (itself), any other call is
  # logged. The real pip would need the network; what is tested here is what CASSIA asks for.
  calls <- tempfile("calls-")
  stub <- tempfile("python-")
  writeLines(c(
    "#!/bin/sh",
    "[ \"$1\" = -c ] && exit 0",  # CASSIA asking for the library folder: nothing to log
    sprintf("echo \"$*\" >> '%s'", calls),
    "if [ \"$1\" = -m ] && [ \"$2\" = venv ]; then mkdir -p \"$3/bin\" && cp \"$0\" \"$3/bin/python\"; fi",
    "exit 0"
  ), stub)
  Sys.chmod(stub, "0755")
  envname <- tempfile("cassia-venv-")
  withr::local_options(cassia.python = NULL)
  withr::local_envvar(R_USER_CONFIG_DIR = tempfile())

  python <- suppressMessages(cassia_install_engine(source_dir, envname = envname, python = stub,
                                                   extras = c("seurat", "scanpy"), pip_args = "--quiet"))
  expect_identical(python, file.path(envname, "bin", "python"))
  expect_identical(getOption("cassia.python"), python)
  logged <- readLines(calls)
  expect_identical(logged[[1]], paste("-m venv", envname))
  expect_match(logged[[2]], "^-m pip install --disable-pip-version-check --quiet ")
  expect_match(logged[[2]], paste0(normalizePath(source_dir), "[seurat,scanpy]"), fixed = TRUE)

  # where the engine is was recorded for later sessions, with what it was installed from
  record <- CASSIA:::read_engine_record(CASSIA:::cassia_user_record())
  expect_identical(record$Python, normalizePath(python))
  expect_identical(record$Source, normalizePath(source_dir))

  # A second call reuses the virtualenv: only pip runs again.
  suppressMessages(cassia_install_engine(source_dir, envname = envname, python = stub))
  expect_length(readLines(calls), 3L)
})

test_that("a failing pip install is one clear error", {
  skip_on_os("windows")
  stub <- tempfile("python-")
  writeLines(c("#!/bin/sh", "echo 'ERROR: No matching distribution found for cassia' >&2", "exit 1"), stub)
  Sys.chmod(stub, "0755")
  envname <- tempfile("cassia-venv-")
  dir.create(file.path(envname, "bin"), recursive = TRUE)
  file.copy(stub, file.path(envname, "bin", "python"))
  Sys.chmod(file.path(envname, "bin", "python"), "0755")
  withr::local_options(cassia.python = NULL)
  withr::local_envvar(R_USER_CONFIG_DIR = tempfile())
  expect_error(suppressMessages(cassia_install_engine("cassia-annotate", envname = envname, python = stub)),
               "pip install failed \\(exit 1\\).*No matching distribution", class = "cassia_install_error")
})
