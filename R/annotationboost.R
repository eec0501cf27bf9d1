#' Re-examine one cluster with Annotation Boost
#'
#' An agent forms hypotheses about the cluster's identity and tests them against the cluster's
#' full marker statistics (genes beyond the top markers, with their fold changes and detection
#' rates), over several rounds. Given `run_dir`, the cluster's earlier answer there is the
#' starting point and the boosted answer is added to that run (summary and report refreshed);
#' otherwise a new run directory is written. A thin front end to the engine's
#' `cassia.run_annotation_boost()`.
#'
#' @inheritParams runCASSIA_batch
#' @param markers The full marker table of the run (a FindAllMarkers data frame, a file path or
#'   a Seurat object): its statistics answer the agent's gene checks.
#' @param cluster The cluster to boost.
#' @param run_dir An earlier run (its directory or the data frame a `runCASSIA_*()` function
#'   returned) holding the cluster's first annotation; `NULL` starts from the markers alone.
#' @param max_iterations Maximum hypothesis rounds.
#' @param mode `"breadth"` (several hypotheses per round) or `"depth"` (one at a time).
#' @param additional_task A question to answer along the way, e.g. `"is this a cancer cluster?"`.
#' @param species,tissue Default to the earlier result's.
#' @param n_genes Top markers shown to the agent; `NULL` uses the earlier run's setting.
#' @param out_dir Run directory to write when `run_dir` is `NULL`.
#' @param report Refresh `report.html`.
#' @param max_p_val_adj,min_log2fc,min_pct1 Marker filters, as in [runCASSIA_batch()]. Those not
#'   given keep the earlier run's (with `run_dir`), else the defaults shown.
#' @return A one-row summary data frame (columns of [runCASSIA_batch()], `Boosted` TRUE when
#'   the boost succeeded), with attributes `run_dir`, `manifest` and `boost`: a list with
#'   `status`, `error`, `iterations`, `converged`, `answer` (to `additional_task`),
#'   `hypotheses` and `genes_checked` (data frames).
#' @examples
#' \dontrun{
#' markers <- loadExampleMarkers()
#' res <- runCASSIA_pipeline(markers, provider = "openai", out_dir = "pbmc-run")
#' boosted <- runCASSIA_annotationboost(markers, cluster = "0", run_dir = res, provider = "openai")
#' attr(boosted, "boost")$hypotheses
#' }
#' @export
runCASSIA_annotationboost <- function(markers, cluster, run_dir = NULL, provider = NULL, model = NULL,
                                      max_iterations = 5, mode = "breadth", additional_task = NULL,
                                      species = NULL, tissue = NULL, out_dir = NULL, progress = TRUE,
                                      n_genes = NULL, api_key = NULL, base_url = NULL, use_cache = TRUE,
                                      report = TRUE, max_p_val_adj = 0.05, min_log2fc = 0.25, min_pct1 = 0.1,
                                      cluster_col = NULL, find_markers_args = list(), ...) {
  if (missing(cluster) || length(cluster) != 1L || is.na(cluster)) {
    cassia_abort("`cluster` must name the one cluster to boost.", class = "cassia_InputError")
  }
  if (is.data.frame(run_dir)) run_dir <- cassia_run_dir(run_dir)
  if (!is.null(run_dir) && !dir.exists(path.expand(run_dir))) {
    cassia_abort(paste0("Run directory not found: ", run_dir, "."), class = "cassia_InputError")
  }
  if (!is.null(run_dir)) run_dir <- normalizePath(path.expand(run_dir))
  options <- engine_options(list(
    cluster = as.character(cluster), run_dir = run_dir, provider = provider, model = model,
    max_iterations = max_iterations, mode = mode, additional_task = additional_task, species = species,
    tissue = tissue, out_dir = out_dir, progress = progress, n_genes = n_genes, api_key = api_key,
    base_url = base_url, use_cache = use_cache, report = report
  ), list(...))
  prepared <- markers_request(markers, clusters = cluster, cluster_col = cluster_col,
                              find_markers_args = find_markers_args)
  # Filters the call did not set keep the earlier run's (when `run_dir` is given), as `cassia boost` does.
  given <- list()
  if (!missing(max_p_val_adj)) given["max_p_val_adj"] <- list(max_p_val_adj)
  if (!missing(min_log2fc)) given["min_log2fc"] <- list(min_log2fc)
  if (!missing(min_pct1)) given["min_pct1"] <- list(min_pct1)
  result <- bridge_request("run", verb = "annotationboost", markers = prepared$request, options = options,
                           filters = marker_filters(given), caller = "runCASSIA_annotationboost",
                           arguments = verb_arguments("runCASSIA_annotationboost"))
  summary <- run_result(result, prepared$table)
  boost <- result$boost
  boost$hypotheses <- bridge_frame(boost$hypotheses)
  boost$genes_checked <- bridge_frame(boost$genes_checked)
  attr(summary, "boost") <- boost
  if (!identical(boost$status, "ok")) {
    warning(structure(class = c("cassia_partial_failure", "warning", "condition"), list(
      message = paste0("Annotation Boost of cluster \"", cluster, "\" did not finish (", boost$status, "): ",
                       boost$error %||% "no reason given", ". The cluster keeps its earlier answer."),
      call = NULL)))
  }
  summary
}
