#' Annotate, score and report every cluster of a marker table
#'
#' The full CASSIA pipeline: annotation with validation, a 0-100 score with reasoning for
#' each cluster, Annotation Boost for clusters scoring below `score_threshold`, and an HTML
#' report in the run directory. A thin front end to the engine's `cassia.run_pipeline()`.
#'
#' @inheritParams runCASSIA_batch
#' @param score_threshold Clusters scoring below this are revisited by Annotation Boost.
#' @param scoring_provider,scoring_model Provider and model for scoring (`NULL`: same as
#'   annotation).
#' @param boost_provider,boost_model Provider and model for Annotation Boost (`NULL`: same as
#'   annotation).
#' @param report Write `report.html` into the run directory.
#' @return The summary data frame described in [runCASSIA_batch()], with `Score` and
#'   `Scoring Reasoning` filled in.
#' @section Cost preview:
#' `estimate_cost = TRUE` (passed through `...`) sends nothing and returns the expected calls,
#' tokens and dollars per stage as a `cassia_cost_estimate` data frame (prices from the engine's
#' model registry; review and scoring default to the cheaper sibling of `model` on a vendor's own
#' API, `stage_models = FALSE` keeps one model, `review_model` names another).
#' @examples
#' \dontrun{
#' res <- runCASSIA_pipeline(loadExampleMarkers(), tissue = "peripheral blood",
#'                           provider = "offline", out_dir = tempfile("cassia-"))
#' res[, c("Cluster ID", "Predicted General Cell Type", "Score")]
#' browseURL(file.path(cassia_run_dir(res), "report.html"))
#' }
#' @export
runCASSIA_pipeline <- function(markers, tissue = NULL, species = "human", provider = NULL, model = NULL,
                               out_dir = NULL, max_workers = 4, n_genes = 50, ranking = "avg_log2FC",
                               additional_info = NULL, validator_rounds = 3, cancer_aware = FALSE,
                               use_cache = TRUE, resume = FALSE, progress = TRUE, api_key = NULL,
                               base_url = NULL, clusters = NULL, score_threshold = 75,
                               scoring_provider = NULL, scoring_model = NULL, boost_provider = NULL,
                               boost_model = NULL, report = TRUE, max_p_val_adj = 0.05, min_log2fc = 0.25, min_pct1 = 0.1,
                               cluster_col = NULL, find_markers_args = list(), ...) {
  options <- engine_options(list(
    tissue = tissue, species = species, provider = provider, model = model, out_dir = out_dir,
    max_workers = max_workers, n_genes = n_genes, ranking = ranking, additional_info = additional_info,
    validator_rounds = validator_rounds, cancer_aware = cancer_aware, use_cache = use_cache,
    resume = resume, progress = progress, api_key = api_key, base_url = base_url, clusters = clusters,
    score_threshold = score_threshold, scoring_provider = scoring_provider, scoring_model = scoring_model,
    boost_provider = boost_provider, boost_model = boost_model, report = report
  ), list(...))
  run_markers_verb("pipeline", markers, options, list(max_p_val_adj = max_p_val_adj, min_log2fc = min_log2fc, min_pct1 = min_pct1),
                   caller = "runCASSIA_pipeline", cluster_col = cluster_col, find_markers_args = find_markers_args)
}
