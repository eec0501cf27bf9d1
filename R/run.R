# What runCASSIA_batch(), runCASSIA_pipeline() and runCASSIA_score_batch() share: collecting
# their arguments into engine options and turning the engine's answer into a data frame.

#' Engine options from R arguments
#'
#' Drops `NULL`s (the engine's default then applies), keeps vectors that must stay lists
#' (`clusters`) as JSON arrays, and expands paths.
#' @noRd
engine_options <- function(args, extra = list()) {
  if (length(extra) && (is.null(names(extra)) || any(!nzchar(names(extra))))) {
    cassia_abort("Extra arguments passed through `...` to the engine must be named.", class = "cassia_InputError")
  }
  args <- c(args, extra)
  args <- args[!vapply(args, is.null, logical(1))]
  if (!is.null(args$out_dir)) args$out_dir <- normalizePath(path.expand(args$out_dir), mustWork = FALSE)
  if (!is.null(args$clusters)) args$clusters <- I(as.character(args$clusters))
  for (name in names(args)) {
    value <- args[[name]]
    if (is.factor(value)) value <- as.character(value)
    if (!inherits(value, "AsIs") && length(value) != 1L) {
      cassia_abort(paste0("`", name, "` must be a single value (got ", length(value), ")."), class = "cassia_InputError")
    }
    if (!inherits(value, "AsIs") && is.na(value)) {
      cassia_abort(paste0("`", name, "` is NA; give a value or leave it out (NULL)."), class = "cassia_InputError")
    }
    args[[name]] <- value
  }
  if (length(args)) args else structure(list(), names = character(0))
}

#' The summary data frame of a run, carrying its run directory and manifest
#' @noRd
run_result <- function(result, markers_table = NULL) {
  summary <- bridge_frame(result$summary)
  attr(summary, "run_dir") <- result$run_dir
  attr(summary, "manifest") <- result$manifest
  if (!is.null(markers_table)) attr(summary, "markers") <- markers_table
  summary
}

#' Run one engine verb on markers and return its summary
#' @noRd
run_markers_verb <- function(verb, markers, options, cluster_col = NULL, find_markers_args = list()) {
  prepared <- markers_request(markers, clusters = options$clusters, cluster_col = cluster_col,
                              find_markers_args = find_markers_args)
  result <- bridge_request("run", verb = verb, markers = prepared$request, options = options)
  run_result(result, prepared$table)
}

#' The run directory of a CASSIA result
#'
#' Every `runCASSIA_*()` result keeps the folder its run was written to (`manifest.json`,
#' `results.jsonl`, `transcripts/`, `summary.csv`, `report.html`).
#'
#' @param x A data frame returned by [runCASSIA_batch()], [runCASSIA_pipeline()] or
#'   [runCASSIA_score_batch()].
#' @return The run directory, a single character string.
#' @examples
#' res <- data.frame(x = 1)
#' attr(res, "run_dir") <- tempdir()
#' cassia_run_dir(res)
#' @export
cassia_run_dir <- function(x) {
  run_dir <- attr(x, "run_dir", exact = TRUE)
  if (is.null(run_dir)) {
    cassia_abort("This object carries no run directory: pass the data frame a runCASSIA_*() function returned.",
                 class = "cassia_InputError")
  }
  run_dir
}
