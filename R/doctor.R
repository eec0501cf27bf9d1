#' Check what CASSIA can find: R, reticulate, Python, the engine and API keys
#'
#' Lists the Python interpreters CASSIA would try (in order: `options(cassia.python)`,
#' `RETICULATE_PYTHON`, the project's `.venv`, the virtualenv of [cassia_install_engine()]),
#' loads the engine and reports its version, the versions of the Python modules it uses, and
#' which providers have an API key set. Keys themselves are never shown.
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
    add("Python candidate", if (file.exists(candidate$path)) "found" else "absent",
        paste0(candidate$path, " (", candidate$source, ")"))
  }
  info <- tryCatch(bridge_request("doctor"), cassia_error = function(err) err)
  if (inherits(info, "cassia_error")) {
    add("engine", "missing", conditionMessage(info))
  } else {
    add("engine", "ok", paste0("cassia ", info$engine_version, " in ", info$python, " (Python ",
                               info$python_version, ")"))
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

#' @export
print.cassia_doctor <- function(x, ...) {
  width <- max(nchar(x$check))
  cat("CASSIA doctor\n")
  for (i in seq_len(nrow(x))) {
    cat(sprintf("  %-*s  %-8s %s\n", width, x$check[[i]], x$status[[i]], x$detail[[i]]))
  }
  invisible(x)
}
