#' Install the CASSIA Python engine into its own virtualenv
#'
#' For people who installed only the R package: creates a Python virtualenv (by default in
#' CASSIA's user data folder, `tools::R_user_dir("CASSIA", "data")`) and pip-installs this
#' package's engine into it, then records where it is (in `tools::R_user_dir("CASSIA",
#' "config")`) so that every later R session finds it, whatever its working directory. Nothing
#' is installed or built when the package loads.
#'
#' The engine's distribution is called `cassia-annotate` (its import name is `cassia`). The
#' package index's `cassia` is a different program (the original authors' CASSIA) and is
#' refused here.
#'
#' @param source What pip installs: by default the source the R package was installed from
#'   (recorded by the project's `scripts/setup.sh`); else the path of a CASSIA checkout (the
#'   folder with `pyproject.toml`), a `cassia_annotate-*.whl` file, a URL of one, or a
#'   requirement such as `"cassia-annotate==0.1.0"`.
#' @param envname Folder of the virtualenv to create (or reuse).
#' @param python The Python (>= 3.10) that creates the virtualenv.
#' @param extras Optional engine extras, e.g. `"seurat"` (rpy2, for reading Seurat `.rds` files
#'   from Python).
#' @param pip_args Further arguments for `pip install`.
#' @return The path of the virtualenv's Python, invisibly. It is also set as
#'   `options(cassia.python = ...)` for this session.
#' @examples
#' \dontrun{
#' cassia_install_engine()                    # the source this R package came from
#' cassia_install_engine("~/src/CASSIA")      # a local checkout
#' cassia_install_engine("cassia_annotate-0.1.0-py3-none-any.whl")
#' }
#' @export
cassia_install_engine <- function(source = cassia_engine_source(), envname = cassia_default_venv(),
                                  python = Sys.which("python3"), extras = character(0), pip_args = character(0)) {
  source <- check_engine_source(source)
  if (!nzchar(python) || !file.exists(python)) {
    cassia_abort("No Python found to create the virtualenv; install Python 3.10 or newer, or pass `python = \"/path/to/python3\"`.",
                 class = "cassia_InputError")
  }
  requirement <- if (length(extras)) paste0(source, "[", paste(extras, collapse = ","), "]") else source
  env_python <- venv_python(envname)
  if (!file.exists(env_python)) {
    message("Creating a Python virtualenv in ", envname)
    dir.create(dirname(envname), recursive = TRUE, showWarnings = FALSE)
    with_python_libpath(python, run_checked(python, c("-m", "venv", shQuote(envname)), "creating the virtualenv"))
  }
  message("Installing ", requirement, " into ", envname)
  with_python_libpath(env_python, run_checked(
    env_python, c("-m", "pip", "install", "--disable-pip-version-check", pip_args, shQuote(requirement)), "pip install"
  ))
  .cassia_state$has_engine[[env_python]] <- NULL
  if (!python_has_engine(env_python)) {
    cassia_abort(paste0("pip installed ", requirement, " but ", env_python, " still cannot find the CASSIA engine ",
                        "(the package cassia with its R bridge). Check that the source is this project."),
                 class = "cassia_install_error")
  }
  record <- write_engine_record(cassia_user_record(), normalizePath(env_python), source)
  message("Recorded the engine in ", record, "; R sessions in any folder will find it.")
  options(cassia.python = env_python)
  if (reticulate::py_available(initialize = FALSE) &&
      !identical(normalizePath(reticulate::py_config()$python), normalizePath(env_python))) {
    message("Python is already running in this R session with another interpreter; CASSIA will run the engine ",
            "in a separate process until R restarts.")
  }
  .cassia_state$ready <- FALSE
  invisible(env_python)
}

#' Where this R package's engine comes from
#'
#' The source recorded when the package was installed by the project's set-up, else an error
#' that says what to pass: there is no safe default on the package index.
#' @noRd
cassia_engine_source <- function() {
  recorded <- read_engine_record(cassia_user_record())$Source %||% read_engine_record(cassia_package_record())$Source
  if (!is.null(recorded) && (file.exists(recorded) || grepl("^(https?|git\\+)", recorded))) return(recorded)
  cassia_abort(paste0(
    "This installation of the CASSIA R package does not know where its engine's source is. Pass it: ",
    "cassia_install_engine(source = \"/path/to/CASSIA\") (the project checkout with pyproject.toml) or the path ",
    "or URL of a cassia_annotate wheel."), class = "cassia_InputError")
}

# A source pip may install, as pip wants it; anything that would install another program is refused.
check_engine_source <- function(source) {
  if (!is.character(source) || length(source) != 1L || is.na(source) || !nzchar(source)) {
    cassia_abort("`source` must be the path of a CASSIA checkout, a wheel file or URL, or a requirement such as \"cassia-annotate\".",
                 class = "cassia_InputError")
  }
  if (grepl("^cassia\\s*($|[][<>=!~;, ])", source, ignore.case = TRUE)) {
    cassia_abort(paste0("\"", source, "\" on the package index is a different program (the original authors' CASSIA), ",
                        "not this package's engine. Give the CASSIA checkout or wheel this R package came with, ",
                        "or the requirement \"cassia-annotate\"."), class = "cassia_InputError")
  }
  if (grepl("^(https?|git\\+|file:)", source)) return(source)
  path <- path.expand(source)
  if (dir.exists(path)) {
    project <- file.path(path, "pyproject.toml")
    if (!file.exists(project) || !any(grepl("^name\\s*=\\s*\"cassia-annotate\"", readLines(project, warn = FALSE)))) {
      cassia_abort(paste0(source, " is not a CASSIA checkout (no pyproject.toml naming cassia-annotate there)."),
                   class = "cassia_InputError")
    }
    return(normalizePath(path))
  }
  if (grepl("\\.whl$", path)) {
    if (!file.exists(path)) cassia_abort(paste0("Wheel not found: ", source, "."), class = "cassia_InputError")
    if (!grepl("^cassia_annotate-", basename(path))) {
      cassia_abort(paste0(basename(path), " is not a wheel of this engine (cassia_annotate-*.whl)."),
                   class = "cassia_InputError")
    }
    return(normalizePath(path))
  }
  if (grepl("^cassia[-_]annotate", source, ignore.case = TRUE)) return(source)
  cassia_abort(paste0(source, " is neither a CASSIA checkout, a cassia_annotate wheel, nor the requirement ",
                      "\"cassia-annotate\"."), class = "cassia_InputError")
}

run_checked <- function(command, args, what) {
  output <- suppressWarnings(system2(command, args, stdout = TRUE, stderr = TRUE))
  status <- attr(output, "status") %||% 0L
  if (!identical(as.integer(status), 0L)) {
    tail_lines <- utils::tail(output, 15)
    cassia_abort(paste0(what, " failed (exit ", status, "):\n", paste(tail_lines, collapse = "\n")),
                 class = "cassia_install_error")
  }
  invisible(output)
}
