# Finding and loading the Python engine. Nothing here runs when the package loads: the engine
# is located and imported on the first call that needs it.

.cassia_state <- new.env(parent = emptyenv())

#' @noRd
cassia_default_venv <- function() {
  file.path(tools::R_user_dir("CASSIA", which = "data"), "venv")
}

# The interpreter of a virtualenv folder.
venv_python <- function(dir) {
  file.path(dir, if (.Platform$OS.type == "windows") "Scripts/python.exe" else "bin/python")
}

# The Python interpreters worth trying, in order, each with where it came from.
cassia_python_candidates <- function() {
  candidates <- list()
  add <- function(path, source) {
    if (!is.null(path) && nzchar(path)) {
      candidates[[length(candidates) + 1L]] <<- list(path = path, source = source)
    }
  }
  add(getOption("cassia.python"), "options(cassia.python)")
  add(Sys.getenv("RETICULATE_PYTHON"), "RETICULATE_PYTHON")
  # The project's own virtualenv, when R runs inside (a sub-folder of) the CASSIA checkout.
  dir <- normalizePath(getwd(), mustWork = FALSE)
  repeat {
    if (file.exists(file.path(dir, "pyproject.toml")) && file.exists(venv_python(file.path(dir, ".venv")))) {
      add(venv_python(file.path(dir, ".venv")), "project .venv")
      break
    }
    parent <- dirname(dir)
    if (identical(parent, dir)) break
    dir <- parent
  }
  add(venv_python(cassia_default_venv()), "cassia_install_engine() virtualenv")
  candidates
}

#' Which Python interpreter CASSIA will use
#'
#' @return A list with `path` and `source`, or `NULL` when no candidate exists.
#' @noRd
cassia_find_python <- function() {
  for (candidate in cassia_python_candidates()) {
    if (file.exists(candidate$path)) return(candidate)
  }
  NULL
}

cassia_engine_missing <- function(detail) {
  cassia_abort(paste0(
    "The CASSIA Python engine is not available: ", detail, ". ",
    "Install it with cassia_install_engine(), or point CASSIA at a Python that has it with ",
    "options(cassia.python = \"/path/to/python\") or the RETICULATE_PYTHON variable ",
    "(set before reticulate starts Python). cassia_doctor() shows what was found."
  ), class = "cassia_engine_missing")
}

#' Make sure the engine can be reached, once per session
#'
#' Starts Python through reticulate (the first candidate interpreter) and checks that it can
#' import `cassia.rbridge`. No Python object is kept on the R side: requests go through
#' `reticulate::py_eval()` with text in and text out (see bridge.R), so no R finalizer ever
#' has to touch Python. That matters when R itself runs inside Python (rpy2), where R's
#' garbage collector runs without Python's GIL.
#' @return The interpreter in use: a list with `path` and `source`.
#' @noRd
cassia_engine <- function() {
  if (isTRUE(.cassia_state$ready)) return(invisible(.cassia_state$python))
  if (reticulate::py_available(initialize = FALSE)) {
    # Python already runs in this session (reticulate cannot switch interpreters): use it.
    python <- list(path = reticulate::py_config()$python, source = "already running in this R session")
  } else {
    python <- cassia_find_python()
    if (is.null(python)) cassia_engine_missing("no Python interpreter was found")
    tryCatch(
      reticulate::use_python(python$path, required = TRUE),
      error = function(err) cassia_engine_missing(paste0("cannot use ", python$path, " (", python$source, "): ",
                                                          conditionMessage(err)))
    )
  }
  tryCatch(
    reticulate::py_eval("__import__('importlib').import_module('cassia.rbridge').__name__", convert = TRUE),
    error = function(err) {
      cassia_engine_missing(paste0("Python ", python$path, " (", python$source,
                                   ") cannot import cassia.rbridge: ", python_error_message(err)))
    }
  )
  .cassia_state$python <- python
  .cassia_state$ready <- TRUE
  invisible(python)
}

# The message of a Python exception caught by reticulate, without the traceback.
python_error_message <- function(err) {
  msg <- conditionMessage(err)
  py_err <- tryCatch(reticulate::py_last_error(), error = function(e) NULL)
  if (!is.null(py_err) && !is.null(py_err$value) && nzchar(py_err$value)) msg <- py_err$value
  msg <- sub("^Error[^:]*: ", "", msg)
  # reticulate formats "Type: message\nDetailed traceback: ..." — keep only the first part.
  msg <- sub("\\n+\\s*Detailed traceback:.*$", "", msg)
  trimws(msg)
}

# Raise a classed R error with a message and no call (the message says what to do).
cassia_abort <- function(message, class = NULL) {
  cond <- structure(
    class = c(class, "cassia_error", "error", "condition"),
    list(message = message, call = NULL)
  )
  stop(cond)
}

# Run `code` with the Python's own library folder first on LD_LIBRARY_PATH. R puts its
# library folders (which hold the system's libpython) on LD_LIBRARY_PATH, and that variable
# beats the RUNPATH of a pyenv/python.org interpreter: a Python started from R would then load
# the wrong libpython and fail on modules such as _ssl. Used for every Python child process.
with_python_libpath <- function(python, code) {
  if (.Platform$OS.type == "windows") return(force(code))
  libdir <- tryCatch(
    suppressWarnings(system2(python, c("-c", shQuote("import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')")),
                             stdout = TRUE, stderr = FALSE)),
    error = function(e) character(0)
  )
  libdir <- if (length(libdir)) trimws(libdir[[1]]) else ""
  if (!nzchar(libdir) || !dir.exists(libdir)) return(force(code))
  old <- Sys.getenv("LD_LIBRARY_PATH", unset = NA)
  on.exit(if (is.na(old)) Sys.unsetenv("LD_LIBRARY_PATH") else Sys.setenv(LD_LIBRARY_PATH = old), add = TRUE)
  Sys.setenv(LD_LIBRARY_PATH = paste(c(libdir, if (!is.na(old) && nzchar(old)) old), collapse = ":"))
  force(code)
}
