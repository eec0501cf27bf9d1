# Turning what the user passed as finished runs (for runCASSIA_similarity_score_batch(),
# runCASSIA_consensus() and merge_annotations()) into bridge inputs: each one a path the engine
# reads (run directory or summary file) or a table sent as JSON.

#' One run or table as a bridge input
#'
#' A character path must exist. A data frame a `runCASSIA_*()` function returned stands for its
#' run directory (as in [runCASSIA_score_batch()]) when `use_run_dir` is TRUE; any other data
#' frame (e.g. a summary.csv read with `read.csv(check.names = FALSE)`) crosses as a table.
#' @noRd
run_input <- function(x, what, use_run_dir = TRUE) {
  if (is.data.frame(x)) {
    run_dir <- attr(x, "run_dir", exact = TRUE)
    if (use_run_dir && !is.null(run_dir) && dir.exists(run_dir)) {
      return(list(path = jsonlite::unbox(normalizePath(run_dir))))
    }
    return(list(table = bridge_table(x)))
  }
  if (is.character(x) && length(x) == 1L && !is.na(x)) {
    path <- path.expand(x)
    if (!file.exists(path)) {
      cassia_abort(paste0(what, " not found: ", x, ". Give a CASSIA run directory, a summary.csv path or a ",
                          "summary data frame."), class = "cassia_InputError")
    }
    return(list(path = jsonlite::unbox(normalizePath(path))))
  }
  cassia_abort(paste0(what, " must be a CASSIA run directory, a summary.csv path or a summary data frame; got an ",
                      "object of class ", paste(class(x), collapse = "/"), "."), class = "cassia_InputError")
}

#' Several runs as bridge inputs: a character vector of paths, or a list of paths and data frames
#' @noRd
runs_inputs <- function(runs) {
  if (is.data.frame(runs)) {
    cassia_abort(paste0("`runs` must list several runs: list(res1, res2), a character vector of run directories, ",
                        "or what runCASSIA_batch_n_times() returned; wrap a single data frame in list()."),
                 class = "cassia_InputError")
  }
  if (is.character(runs)) runs <- as.list(runs)
  if (!is.list(runs) || !length(runs)) {
    cassia_abort("`runs` is empty; give at least one run directory, summary.csv path or summary data frame.",
                 class = "cassia_InputError")
  }
  inputs <- lapply(seq_along(runs), function(i) run_input(runs[[i]], paste0("Run ", i)))
  names(inputs) <- NULL  # an unnamed list crosses as a JSON array
  inputs
}

#' Character labels as a JSON array (NULL stays NULL: the engine names the runs)
#' @noRd
as_labels <- function(labels) {
  if (is.null(labels)) return(NULL)
  labels <- as.character(labels)
  if (anyNA(labels)) cassia_abort("`labels` must not contain NA.", class = "cassia_InputError")
  I(labels)
}
