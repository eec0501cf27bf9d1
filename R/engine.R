# Finding and loading the Python engine. Nothing here runs when the package loads: the engine
# is located and imported on the first call that needs it.

.cassia_state <- new.env(parent = emptyenv())
.cassia_state$has_engine <- list()

#' @noRd
cassia_default_venv <- function() {
  file.path(tools::R_user_dir("CASSIA", which = "data"), "venv")
}

# The interpreter of a virtualenv folder.
venv_python <- function(dir) {
  file.path(dir, if (.Platform$OS.type == "windows") "Scripts/python.exe" else "bin/python")
}

# Where the engine was recorded: by cassia_install_engine() in the user's config folder, and by
# the project's set-up (scripts/install_r_package.sh) inside the installed package. Both are
# DCF files with the fields Python (the interpreter that has the engine) and Source (what the
# engine was installed from: a checkout folder or a wheel), so every R session finds the engine
# whatever its working directory.
cassia_user_record <- function() {
  file.path(tools::R_user_dir("CASSIA", which = "config"), "engine.dcf")
}

cassia_package_record <- function() {
  system.file("engine.dcf", package = "CASSIA")
}

read_engine_record <- function(path) {
  if (!nzchar(path) || !file.exists(path)) return(list())
  fields <- tryCatch(read.dcf(path), error = function(e) NULL)
  if (is.null(fields) || !nrow(fields)) return(list())
  as.list(fields[1, ])
}

write_engine_record <- function(path, python, source = NULL) {
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  fields <- c(Python = python, Source = source)
  write.dcf(as.data.frame(as.list(fields), stringsAsFactors = FALSE), path)
  invisible(path)
}

# The Python interpreters worth trying, in order, each with where it came from.
cassia_python_candidates <- function() {
  candidates <- list()
  add <- function(path, source) {
    if (!is.null(path) && nzchar(path)) {
      candidates[[length(candidates) + 1L]] <<- list(path = path.expand(path), source = source)
    }
  }
  add(getOption("cassia.python"), "options(cassia.python)")
  add(Sys.getenv("RETICULATE_PYTHON"), "RETICULATE_PYTHON")
  add(read_engine_record(cassia_user_record())$Python, "recorded by cassia_install_engine()")
  add(read_engine_record(cassia_package_record())$Python, "recorded when the R package was installed")
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

# Whether `python` has this engine (the package `cassia` with its R bridge), asked of a child
# process without importing anything heavy; remembered for the session. PyPI's unrelated
# `cassia` has no rbridge module, so it does not count.
python_has_engine <- function(python) {
  if (!file.exists(python)) return(FALSE)
  known <- .cassia_state$has_engine[[python]]
  if (!is.null(known)) return(known)
  probe <- paste0("import importlib.util, os, sys; s = importlib.util.find_spec('cassia'); ",
                  "sys.exit(0 if s and any(os.path.exists(os.path.join(p, 'rbridge.py')) ",
                  "for p in (s.submodule_search_locations or [])) else 3)")
  status <- tryCatch(
    with_python_libpath(python, suppressWarnings(system2(python, c("-c", shQuote(probe)), stdout = FALSE,
                                                         stderr = FALSE))),
    error = function(e) 1L
  )
  found <- identical(as.integer(status), 0L)
  .cassia_state$has_engine[[python]] <- found
  found
}

#' Which Python interpreter has the engine
#'
#' @return The first candidate that exists and has the engine, as a list with `path` and
#'   `source`, or `NULL` when none has.
#' @noRd
cassia_find_python <- function() {
  for (candidate in cassia_python_candidates()) {
    if (python_has_engine(candidate$path)) return(candidate)
  }
  NULL
}

cassia_engine_missing <- function(detail) {
  # When the package knows its engine's source, the plain call works: say so, not "/path/to".
  source <- tryCatch(cassia_engine_source(), error = function(e) NULL)
  install <- if (is.null(source)) {
    "cassia_install_engine(source = \"/path/to/CASSIA\") (the project checkout, or a cassia_annotate wheel)"
  } else {
    paste0("cassia_install_engine() (it installs the engine from ", source, ")")
  }
  cassia_abort(paste0(
    "The CASSIA Python engine is not available: ", detail, ". ",
    "Install it with ", install, ", or point CASSIA at a Python that has it with ",
    "options(cassia.python = \"/path/to/python\"). cassia_doctor() shows what was found."
  ), class = "cassia_engine_missing")
}

#' Make sure the engine can be reached, once per session, and choose the transport
#'
#' In process (reticulate) when reticulate can run the engine's Python; otherwise, when
#' reticulate is already bound to (or `RETICULATE_PYTHON` names) a Python without the engine,
#' the engine runs in a child process of its own Python, said once per session. No Python
#' object is kept on the R side: requests go through `reticulate::py_eval()` with text in and
#' text out (see bridge.R), so no R finalizer ever has to touch Python. That matters when R
#' itself runs inside Python (rpy2), where R's garbage collector runs without Python's GIL.
#' @return The interpreter in use: a list with `path`, `source` and `transport`.
#' @noRd
cassia_engine <- function() {
  if (isTRUE(.cassia_state$ready)) return(invisible(.cassia_state$python))
  engine <- cassia_find_python()
  if (reticulate::py_available(initialize = FALSE)) {
    current <- reticulate::py_config()$python
    if (python_has_engine(current) || is.null(engine)) {
      python <- list(path = current, source = "already running in this R session", transport = "reticulate")
    } else {
      python <- use_subprocess(engine, paste0("reticulate already runs Python ", current,
                                              ", which does not have the CASSIA engine"))
    }
  } else {
    if (is.null(engine)) cassia_engine_missing(engine_search_detail())
    reticulate_python <- Sys.getenv("RETICULATE_PYTHON")
    # Set but empty means "not set" to people; reticulate would look for a Python called "".
    if (!nzchar(reticulate_python) && !is.na(Sys.getenv("RETICULATE_PYTHON", unset = NA))) {
      Sys.unsetenv("RETICULATE_PYTHON")
    }
    if (nzchar(reticulate_python) && !python_has_engine(path.expand(reticulate_python))) {
      # reticulate would start RETICULATE_PYTHON whatever CASSIA asks; leave it to the user's other code.
      python <- use_subprocess(engine, paste0("RETICULATE_PYTHON names ", reticulate_python,
                                              ", which does not have the CASSIA engine"))
    } else {
      python <- c(engine, transport = "reticulate")
      tryCatch(
        reticulate::use_python(python$path, required = TRUE),
        error = function(err) cassia_engine_missing(paste0("cannot use ", python$path, " (", python$source, "): ",
                                                            conditionMessage(err)))
      )
    }
  }
  if (identical(python$transport, "reticulate")) {
    tryCatch(
      reticulate::py_eval("__import__('importlib').import_module('cassia.rbridge').__name__", convert = TRUE),
      error = function(err) {
        cassia_engine_missing(paste0("Python ", python$path, " (", python$source,
                                     ") cannot import cassia.rbridge: ", python_error_message(err)))
      }
    )
  }
  .cassia_state$python <- python
  .cassia_state$ready <- TRUE
  invisible(python)
}

# Run the engine in child processes of `engine` for this session, and say so once.
use_subprocess <- function(engine, why) {
  message("CASSIA: ", why, "; running the engine of ", engine$path, " (", engine$source,
          ") in a separate process instead. Results are the same; each call starts that Python. ",
          "Set options(cassia.bridge = \"subprocess\") to choose this yourself and silence this note.")
  c(engine, transport = "subprocess")
}

# What was looked at, for the "engine missing" message.
engine_search_detail <- function() {
  tried <- vapply(cassia_python_candidates(), function(candidate) {
    state <- if (!file.exists(candidate$path)) "absent" else "no engine"
    paste0(candidate$path, " (", candidate$source, ": ", state, ")")
  }, "")
  if (!length(tried)) return("no Python interpreter was found")
  paste0("none of these Pythons has it: ", paste(tried, collapse = "; "))
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
