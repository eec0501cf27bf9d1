# Finding and loading the Python engine. Nothing here runs when the package loads: the engine
# is located and imported on the first call that needs it, and kept for the session.

.cassia_state <- new.env(parent = emptyenv())

#' @noRd
cassia_default_venv <- function() {
  file.path(tools::R_user_dir("CASSIA", which = "data"), "venv")
}

# The Python interpreters worth trying, in order, each with where it came from.
cassia_python_candidates <- function() {
  venv_python <- function(dir) file.path(dir, "bin", "python")
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

#' Load the engine bridge module, once per session
#'
#' Returns the Python module `cassia.rbridge` (converting = FALSE so every value crosses as
#' JSON text, whatever the NumPy/pandas versions).
#' @noRd
cassia_engine <- function() {
  if (!is.null(.cassia_state$bridge)) return(.cassia_state$bridge)
  if (reticulate::py_available(initialize = FALSE)) {
    # Python already runs in this session (reticulate cannot switch interpreters): use it.
    python <- list(path = reticulate::py_config()$python, source = "already initialised by reticulate")
  } else {
    python <- cassia_find_python()
    if (is.null(python)) cassia_engine_missing("no Python interpreter was found")
    tryCatch(
      reticulate::use_python(python$path, required = TRUE),
      error = function(err) cassia_engine_missing(paste0("cannot use ", python$path, " (", python$source, "): ",
                                                          conditionMessage(err)))
    )
  }
  bridge <- tryCatch(
    reticulate::import("cassia.rbridge", convert = FALSE),
    error = function(err) {
      cassia_engine_missing(paste0("Python ", python$path, " (", python$source,
                                   ") cannot import cassia.rbridge: ", python_error_message(err)))
    }
  )
  .cassia_state$bridge <- bridge
  .cassia_state$python <- python
  bridge
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
