#' Check what CASSIA can find: R, reticulate, Python, the engine and API keys
#'
#' Lists the Python interpreters CASSIA would try (in order: `options(cassia.python)`,
#' `RETICULATE_PYTHON`, the engine recorded by [cassia_install_engine()], the engine recorded
#' when the R package was installed by the project's set-up, the project's `.venv`, the
#' virtualenv of [cassia_install_engine()]) and whether each has the engine, loads the engine
#' and reports which one is in use (distribution, version, folder, Python) and how R reaches
#' it (the bridge: in this R process through reticulate, or a separate Python process), the
#' versions of the Python modules it uses, and which providers have an API key set. Keys
#' themselves are never shown.
#'
#' @return A data frame with columns `check`, `status` and `detail` (printed as a list).
#' @examples
#' \dontrun{
#' cassia_doctor()
#' }
#' @export
cassia_doctor <- function() {
  rows <- list()
  add <- function(check, status, detail) {
    rows[[length(rows) + 1L]] <<- data.frame(check = check, status = status, detail = detail,
                                             stringsAsFactors = FALSE)
  }
  add("R", "ok", R.version.string)
  add("reticulate", "ok", as.character(utils::packageVersion("reticulate")))
  for (pkg in c("Seurat", "SeuratObject")) {
    found <- requireNamespace(pkg, quietly = TRUE)
    add(pkg, if (found) "ok" else "absent",
        if (found) as.character(utils::packageVersion(pkg)) else "not installed (needed for Seurat objects)")
  }
  for (candidate in cassia_python_candidates()) {
    status <- if (!file.exists(candidate$path)) "absent" else if (python_has_engine(candidate$path)) "engine" else "no engine"
    add("Python candidate", status, paste0(candidate$path, " (", candidate$source, ")"))
  }
  for (record in c(cassia_user_record(), cassia_package_record())) {
    fields <- read_engine_record(record)
    if (length(fields)) add("engine record", "ok", paste0(record, ": Python ", fields$Python %||% "-", ", source ",
                                                          fields$Source %||% "-"))
  }
  info <- tryCatch(bridge_request("doctor"), cassia_error = function(err) err)
  if (inherits(info, "cassia_error")) {
    add("engine", "missing", conditionMessage(info))
  } else {
    add("engine", "ok", paste0(info$distribution %||% "cassia", " ", info$engine_version, " at ",
                               info$engine_location %||% "?", ", Python ", info$python_version, " (", info$python, ")"))
    add("bridge", bridge_transport(), bridge_description())
    for (module in names(info$modules)) {
      version <- info$modules[[module]]
      add(paste0("python: ", module), if (is.null(version)) "absent" else "ok",
          if (is.null(version)) "not installed" else version)
    }
    for (provider in names(info$keys_set)) {
      add(paste0("key: ", provider), if (isTRUE(info$keys_set[[provider]])) "set" else "not set",
          info$key_vars[[provider]] %||% "")
    }
  }
  report <- do.call(rbind, rows)
  class(report) <- c("cassia_doctor", "data.frame")
  report
}

# How the bridge reaches the engine, in words, for cassia_doctor().
bridge_description <- function() {
  if (!is.null(getOption("cassia.bridge"))) return(paste0("chosen with options(cassia.bridge = \"", getOption("cassia.bridge"), "\")"))
  if (identical(commandArgs()[1], "rpy2")) return("a separate Python process (R runs inside Python through rpy2)")
  python <- cassia_engine()
  if (identical(python$transport, "subprocess")) {
    return(paste0("a separate Python process of ", python$path, " (reticulate is bound to a Python without the engine)"))
  }
  paste0("in this R process through reticulate (", python$source, ")")
}

#' @export
print.cassia_doctor <- function(x, ...) {
  width <- max(nchar(x$check))
  cat("CASSIA doctor\n")
  for (i in seq_len(nrow(x))) {
    cat(sprintf("  %-*s  %-8s %s\n", width, x$check[[i]], x$status[[i]], x$detail[[i]]))
  }
  invisible(x)
}
