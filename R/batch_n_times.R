#' Annotate every cluster several times, independently
#'
#' Makes `n` independent [runCASSIA_batch()] runs of the same markers, written to
#' `out_dir/run-1` ... `out_dir/run-n`, for measuring how stable the annotations are (pass the
#' result to [runCASSIA_similarity_score_batch()], or use [runCASSIA_uncertainty()] for both
#' steps in one call). The runs always bypass the response cache; run k uses seed `seed + k`
#' and `temperature` when given, where the provider accepts them (OpenAI-compatible servers
#' take both, Anthropic only the temperature; the offline annotator is deterministic, so its
#' runs repeat one answer, which the CS does not count as agreement). A thin front end to the engine's `cassia.run_n_times()`:
#' argument names and defaults are the same.
#'
#' @inheritParams runCASSIA_batch
#' @param n Number of runs.
#' @param out_dir Folder holding the runs (`run-1` ... `run-n`); `NULL` lets the engine choose
#'   one.
#' @param temperature Sampling temperature sent with every request (0-2); `NULL` keeps the
#'   provider's default.
#' @param seed Run k asks for seed `seed + k`.
#' @param resume Finish the runs an interrupted call left unfinished.
#' @param ... Further named arguments passed to every run unchanged (`use_cache` cannot be
#'   set: the runs always bypass the cache).
#' @return A list of `n` summary data frames (see [runCASSIA_batch()]), named `run-1` ...
#'   `run-n`, each with the attributes `run_dir` and `manifest` (and `markers` when they were
#'   computed from a Seurat object).
#' @seealso [runCASSIA_similarity_score_batch()] scores the runs' agreement.
#' @examples
#' \dontrun{
#' runs <- runCASSIA_batch_n_times(loadExampleMarkers(), n = 3, tissue = "peripheral blood",
#'                                 provider = "openai", out_dir = "pbmc-n-times")
#' sapply(runs, function(run) run[["Predicted General Cell Type"]])
#' }
#' @export
runCASSIA_batch_n_times <- function(markers, n = 5, tissue = NULL, species = "human", provider = NULL,
                                    model = NULL, out_dir = NULL, max_workers = 4, n_genes = 50,
                                    ranking = "avg_log2FC", additional_info = NULL, validator_rounds = 3,
                                    cancer_aware = FALSE, temperature = NULL, seed = 0, resume = FALSE,
                                    progress = TRUE, api_key = NULL, base_url = NULL, clusters = NULL,
                                    max_p_val_adj = 0.05, min_log2fc = 0.25, min_pct1 = 0.1, cluster_col = NULL,
                                    find_markers_args = list(), ...) {
  options <- engine_options(list(
    n = n, tissue = tissue, species = species, provider = provider, model = model, out_dir = out_dir,
    max_workers = max_workers, n_genes = n_genes, ranking = ranking, additional_info = additional_info,
    validator_rounds = validator_rounds, cancer_aware = cancer_aware, temperature = temperature, seed = seed,
    resume = resume, progress = progress, api_key = api_key, base_url = base_url, clusters = clusters
  ), list(...))
  prepared <- markers_request(markers, clusters = options$clusters, cluster_col = cluster_col,
                              find_markers_args = find_markers_args)
  result <- bridge_request("run", verb = "batch_n_times", markers = prepared$request, options = options,
                           filters = marker_filters(list(max_p_val_adj = max_p_val_adj, min_log2fc = min_log2fc, min_pct1 = min_pct1)),
                           caller = "runCASSIA_batch_n_times", arguments = verb_arguments("runCASSIA_batch_n_times"))
  runs <- run_results(result$runs, prepared$table)
  if (!is.null(options$out_dir)) attr(runs, "run_dir") <- options$out_dir
  check_failures(runs, "runCASSIA_batch_n_times", runs = runs)
}

#' The engine's runs as a list of summary data frames named by their folders
#' @noRd
run_results <- function(runs, markers_table = NULL) {
  out <- lapply(runs, run_result, markers_table = markers_table)
  names(out) <- vapply(runs, function(run) basename(run$run_dir), "")
  out
}
