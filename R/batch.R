#' Annotate every cluster of a marker table
#'
#' Runs the CASSIA agents (annotator, reviewer) on each cluster and returns one
#' row per cluster. This is a thin front end to the Python engine's `cassia.run_batch()`:
#' argument names and defaults are the same.
#'
#' @param markers A `Seurat::FindAllMarkers()` data frame, the path of a marker file (CSV, TSV
#'   or RDS), or a Seurat object (markers are then computed with
#'   `FindAllMarkers(only.pos = TRUE)`, see `find_markers_args`).
#' @param tissue Tissue the cells come from, e.g. `"peripheral blood"`; `NULL` when unknown.
#' @param species Species, e.g. `"human"` or `"mouse"`.
#' @param provider Who answers: a vendor name (`"openai"`, `"anthropic"`, `"openrouter"`,
#'   `"deepseek"`, ...), an OpenAI-compatible base URL (e.g. a local Ollama or vLLM server),
#'   or `"offline"` (the built-in knowledge-base annotator, no key needed). `NULL` picks the
#'   first vendor whose API key is set, else `"offline"`.
#' @param model Model name; `NULL` uses the provider's default.
#' @param out_dir Folder the run is written to (manifest, results, transcripts, summary,
#'   report); `NULL` lets the engine choose one.
#' @param max_workers Clusters annotated at the same time.
#' @param n_genes Top marker genes per cluster given to the agents.
#' @param ranking How markers are ranked: `"avg_log2FC"`, `"p_val_adj"`, `"pct_diff"` or a
#'   score column.
#' @param max_p_val_adj,min_log2fc,min_pct1 Marker filters: a gene can be among a cluster's top
#'   markers only when its `p_val_adj` is below `max_p_val_adj`, its `avg_log2FC` above
#'   `min_log2fc` and its `pct.1` at least `min_pct1`. The defaults are the engine's (Python
#'   `cassia.MarkerFilters()`, command line `--max-p-adj`, `--min-log2fc`, `--min-pct1`); `NULL`
#'   turns a filter off. The full table is kept for Annotation Boost either way.
#' @param additional_info Free text added to every prompt (e.g. the experiment's design).
#' @param validator_rounds Maximum annotate/validate rounds per cluster.
#' @param cancer_aware Consider malignant cell states.
#' @param use_cache Reuse cached model answers (a rerun makes no network call).
#' @param resume Finish an interrupted run in `out_dir`, annotating only missing clusters.
#' @param progress Show a progress bar.
#' @param api_key API key for this call only (otherwise [setLLMApiKey()] or the environment).
#' @param base_url Base URL overriding the provider's.
#' @param clusters Annotate only these clusters (`NULL`: all).
#' @param cluster_col When `markers` is a Seurat object: the metadata column that defines the
#'   clusters (`NULL`: `Idents()`).
#' @param find_markers_args When `markers` is a Seurat object: arguments for
#'   `Seurat::FindAllMarkers()`, overriding CASSIA's defaults (`only.pos = TRUE`,
#'   `verbose = FALSE`).
#' @param ... Further named arguments passed to the engine unchanged, e.g. the output limits
#'   `max_tokens` (the pipeline also takes `scoring_max_tokens` and `boost_max_tokens`) and
#'   `max_concurrency` (requests in flight per backend; default: as many as `max_workers` sends).
#' @return A data frame with one row per cluster (the run's `summary.csv`: `Cluster ID`,
#'   `Predicted General Cell Type`, `Predicted Detailed Cell Type`, `Possible Mixed Cell Types`,
#'   `Marker Number`, `Marker List`, ..., `Cell Ontology ID`, `Subtypes`, ...). Attributes:
#'   `run_dir` (see [cassia_run_dir()]), `manifest` (the run's settings and totals, a list)
#'   and, when markers were computed from a Seurat object, `markers`.
#' @seealso [runCASSIA_pipeline()] adds scoring and the HTML report; [annotate_clusters()]
#'   annotates a Seurat object in one call.
#' @section Cost preview:
#' `estimate_cost = TRUE` (passed through `...`) sends nothing and returns the expected calls,
#' tokens and dollars per stage as a `cassia_cost_estimate` data frame (prices from the engine's
#' model registry; review and scoring default to the cheaper sibling of `model` on a vendor's own
#' API, `stage_models = FALSE` keeps one model, `review_model` names another).
#' @examples
#' \dontrun{
#' markers <- loadExampleMarkers()
#' res <- runCASSIA_batch(markers, tissue = "peripheral blood", species = "human",
#'                        provider = "offline", out_dir = tempfile("cassia-"))
#' res[, c("Cluster ID", "Predicted General Cell Type")]
#' }
#' @export
runCASSIA_batch <- function(markers, tissue = NULL, species = "human", provider = NULL, model = NULL,
                            out_dir = NULL, max_workers = 4, n_genes = 50, ranking = "avg_log2FC",
                            additional_info = NULL, validator_rounds = 3, cancer_aware = FALSE,
                            use_cache = TRUE, resume = FALSE, progress = TRUE, api_key = NULL,
                            base_url = NULL, clusters = NULL, max_p_val_adj = 0.05, min_log2fc = 0.25, min_pct1 = 0.1,
                            cluster_col = NULL, find_markers_args = list(), ...) {
  options <- engine_options(list(
    tissue = tissue, species = species, provider = provider, model = model, out_dir = out_dir,
    max_workers = max_workers, n_genes = n_genes, ranking = ranking, additional_info = additional_info,
    validator_rounds = validator_rounds, cancer_aware = cancer_aware, use_cache = use_cache,
    resume = resume, progress = progress, api_key = api_key, base_url = base_url, clusters = clusters
  ), list(...))
  run_markers_verb("batch", markers, options, list(max_p_val_adj = max_p_val_adj, min_log2fc = min_log2fc, min_pct1 = min_pct1),
                   caller = "runCASSIA_batch", cluster_col = cluster_col, find_markers_args = find_markers_args)
}
