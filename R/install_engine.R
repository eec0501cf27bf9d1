#' Install the CASSIA Python engine into its own virtualenv
#'
#' For people who installed only the R package: creates a Python virtualenv (by default in
#' CASSIA's user data folder, `tools::R_user_dir("CASSIA", "data")`) and pip-installs the
#' engine into it, from a local checkout or from the package index. CASSIA finds that
#' virtualenv by itself afterwards; nothing is installed or built when the package loads.
#'
#' @param source What pip installs: the path of a CASSIA source checkout (the folder with
#'   `pyproject.toml`), or a pip requirement such as `"cassia"` or `"cassia==0.1.0"`.
#' @param envname Folder of the virtualenv to create (or reuse).
#' @param python The Python (>= 3.10) that creates the virtualenv.
#' @param extras Optional engine extras, e.g. `"seurat"` (rpy2, for reading Seurat `.rds` files
#'   from Python).
#' @param pip_args Further arguments for `pip install`.
#' @return The path of the virtualenv's Python, invisibly. It is also set as
#'   `options(cassia.python = ...)` for this session.
#' @examples
#' \dontrun{
#' cassia_install_engine("~/src/cassia")   # a local checkout
#' cassia_install_engine()                 # from the package index
#' }
#' @export
cassia_install_engine <- function(source = "cassia", envname = cassia_default_venv(),
                                  python = Sys.which("python3"), extras = character(0), pip_args = character(0)) {
  if (!is.character(source) || length(source) != 1L || !nzchar(source)) {
    cassia_abort("`source` must be a path to a CASSIA checkout or a pip requirement such as \"cassia\".",
                 class = "cassia_InputError")
  }
  if (!nzchar(python) || !file.exists(python)) {
    cassia_abort("No Python found to create the virtualenv; install Python 3.10 or newer, or pass `python = \"/path/to/python3\"`.",
                 class = "cassia_InputError")
  }
  looks_like_path <- grepl("[/\\\\]", source) || dir.exists(source)
  if (looks_like_path) {
    if (!file.exists(file.path(source, "pyproject.toml"))) {
      cassia_abort(paste0(source, " is not a CASSIA source checkout (no pyproject.toml there)."),
                   class = "cassia_InputError")
    }
    source <- normalizePath(source)
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
  options(cassia.python = env_python)
  if (reticulate::py_available(initialize = FALSE) &&
      !identical(normalizePath(reticulate::py_config()$python), normalizePath(env_python))) {
    message("Python is already running in this R session with another interpreter; restart R to use the engine.")
  }
  invisible(env_python)
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
