#' How much several runs agree on each cluster (the CS score)
#'
#' Compares finished runs of the same clusters and gives every cluster a consensus similarity
#' score (CS, 0-100): CS_CL from names unified through the Cell Ontology, CS_LLM from names
#' unified by a unification agent, CS_agent from a consensus agent's own estimate; the final CS
#' is the lowest of those computed, and clusters below `threshold` are flagged uncertain and
#' recommended for [runCASSIA_annotationboost()]. With `provider = "offline"` or
#' `agents = FALSE` no model is called and CS = CS_CL. A thin front end to the engine's
#' `cassia.score_runs()`: argument names and defaults are the same.
#'
#' @param runs The runs to compare: what [runCASSIA_batch_n_times()] returned, a list of
#'   `runCASSIA_*()` results (each stands for its run directory), a character vector of run
#'   directories or `summary.csv` paths, or a list mixing those with summary data frames read
#'   from elsewhere (e.g. `read.csv(path, check.names = FALSE)`; original CASSIA columns work).
#' @param provider,model Who answers the unification and consensus agents: a vendor name, an
#'   OpenAI-compatible base URL or `"offline"`; `NULL` picks the first vendor whose API key is
#'   set, else `"offline"`.
#' @param weights Weights of agreement on the general type and on the subtype, `c(general,
#'   subtype)`.
#' @param threshold Clusters whose CS is below this are flagged uncertain.
#' @param labels One name per run, used in the manifest and the report
#'   (`NULL`: folder or file names).
#' @param agents Ask the unification and consensus agents (`FALSE`: CS_CL only, no model call).
#' @param species,tissue Given to the agents.
#' @param out_dir Folder to write `uncertainty.csv`, `uncertainty.jsonl`, `manifest.json`,
#'   `uncertainty.html` and the agents' transcripts to; `NULL` writes nothing.
#' @param max_workers Clusters judged at the same time.
#' @param use_cache Reuse cached agent answers.
#' @param cache_path Response cache file (`NULL`: the engine's default).
#' @inheritParams runCASSIA_batch
#' @param report Write `uncertainty.html` into `out_dir`.
#' @param ... Further named arguments passed to the engine unchanged.
#' @return A data frame with one row per cluster: `Cluster ID`, `Consensus General Type`,
#'   `Consensus Subtype`, their Cell Ontology IDs, `CS_CL`, `CS_LLM`, `CS_agent`, `CS`,
#'   `Uncertain`, `Recommend Boost`, `General Agreement`, `Subtype Agreement`, `Runs Answered`,
#'   `Agent General Type`, `Agent Subtype`, `Agent Reasoning`, `Notes`, then `Run k General`
#'   and `Run k Subtype` for every run. Attributes: `manifest` (settings, runs, token totals,
#'   notes) and, when `out_dir` was given, `run_dir` (see [cassia_run_dir()]).
#' @seealso [runCASSIA_uncertainty()] makes the runs and scores them in one call;
#'   [runCASSIA_consensus()] is a plain majority vote without scores.
#' @examples
#' \dontrun{
#' runs <- runCASSIA_batch_n_times(loadExampleMarkers(), n = 3, provider = "openai")
#' cs <- runCASSIA_similarity_score_batch(runs, provider = "openai", out_dir = "pbmc-cs")
#' cs[, c("Cluster ID", "Consensus General Type", "CS", "Uncertain")]
#' }
#' @export
runCASSIA_similarity_score_batch <- function(runs, provider = NULL, model = NULL, weights = c(0.7, 0.3),
                                             threshold = 75, labels = NULL, agents = TRUE, species = "human",
                                             tissue = NULL, out_dir = NULL, max_workers = 4, use_cache = TRUE,
                                             cache_path = NULL, api_key = NULL, base_url = NULL, progress = TRUE,
                                             report = TRUE, ...) {
  inputs <- runs_inputs(runs)
  options <- engine_options(list(
    provider = provider, model = model, weights = as_weights(weights), threshold = threshold,
    labels = as_labels(labels), agents = agents, species = species, tissue = tissue, out_dir = out_dir,
    max_workers = max_workers, use_cache = use_cache, cache_path = expand_path(cache_path), api_key = api_key,
    base_url = base_url, progress = progress, report = report
  ), list(...))
  uncertainty_result(bridge_request("score_runs", runs = inputs, options = options))
}

#' Annotate every cluster several times and measure how much the answers agree
#'
#' [runCASSIA_batch_n_times()] followed by [runCASSIA_similarity_score_batch()] in one call:
#' `n` independent runs written to `out_dir/run-1` ... `out_dir/run-n`, then the CS scores and
#' consensus of every cluster written to `out_dir` (`uncertainty.csv`, `uncertainty.html`, ...).
#' `n` must be at least 2 and the provider a language model: the deterministic offline
#' annotator is refused (an error of class `cassia_ConfigError`). Failed, unvalidated, "Unknown"
#' and word-for-word repeated answers are not agreement; a cluster with fewer than two
#' independent answers gets `CS = NA`, with the reason in `Notes`.
#' A thin front end to the engine's `cassia.run_uncertainty()`: argument names and defaults
#' are the same.
#'
#' @inheritParams runCASSIA_batch_n_times
#' @inheritParams runCASSIA_similarity_score_batch
#' @param provider,model Who annotates (every run) and, unless `unify_provider` is given,
#'   answers the unification and consensus agents; see [runCASSIA_batch()].
#' @param out_dir Folder for the runs and the uncertainty results; `NULL` lets the engine
#'   choose one.
#' @param unify_provider,unify_model Provider and model of the unification and consensus
#'   agents (`NULL`: the runs' own).
#' @param report Write `uncertainty.html`.
#' @param ... Further named arguments passed to every run unchanged.
#' @return The data frame described in [runCASSIA_similarity_score_batch()], with attributes
#'   `run_dir` (the `out_dir`), `manifest`, and `runs`: the `n` run summaries, as
#'   [runCASSIA_batch_n_times()] returns them.
#' @examples
#' \dontrun{
#' cs <- runCASSIA_uncertainty(loadExampleMarkers(), n = 5, tissue = "peripheral blood",
#'                             provider = "openai", out_dir = "pbmc-uncertainty")
#' cs[cs$Uncertain, c("Cluster ID", "Consensus General Type", "CS")]
#' browseURL(file.path(cassia_run_dir(cs), "uncertainty.html"))
#' }
#' @export
runCASSIA_uncertainty <- function(markers, n = 5, tissue = NULL, species = "human", provider = NULL, model = NULL,
                                  out_dir = NULL, max_workers = 4, weights = c(0.7, 0.3), threshold = 75,
                                  temperature = NULL, seed = 0, unify_provider = NULL, unify_model = NULL,
                                  agents = TRUE, api_key = NULL, base_url = NULL, progress = TRUE, resume = FALSE,
                                  report = TRUE, cache_path = NULL, clusters = NULL, n_genes = 50,
                                  ranking = "avg_log2FC", max_p_val_adj = 0.05, min_log2fc = 0.25, min_pct1 = 0.1,
                                  cluster_col = NULL, find_markers_args = list(), ...) {
  options <- engine_options(list(
    n = n, tissue = tissue, species = species, provider = provider, model = model, out_dir = out_dir,
    max_workers = max_workers, weights = as_weights(weights), threshold = threshold, temperature = temperature,
    seed = seed, unify_provider = unify_provider, unify_model = unify_model, agents = agents, api_key = api_key,
    base_url = base_url, progress = progress, resume = resume, report = report,
    cache_path = expand_path(cache_path), clusters = clusters, n_genes = n_genes, ranking = ranking
  ), list(...))
  prepared <- markers_request(markers, clusters = options$clusters, cluster_col = cluster_col,
                              find_markers_args = find_markers_args)
  result <- bridge_request("run", verb = "uncertainty", markers = prepared$request, options = options,
                           filters = marker_filters(list(max_p_val_adj = max_p_val_adj, min_log2fc = min_log2fc, min_pct1 = min_pct1)),
                           caller = "runCASSIA_uncertainty", arguments = verb_arguments("runCASSIA_uncertainty"))
  table <- uncertainty_result(result, prepared$table)
  runs <- attr(table, "runs", exact = TRUE)
  if (length(runs)) check_failures(table, "runCASSIA_uncertainty", runs = runs) else table
}

#' The uncertainty table of an engine answer, carrying where it was written and its runs
#' @noRd
uncertainty_result <- function(result, markers_table = NULL) {
  table <- bridge_frame(result$table)
  if (!is.null(result$out_dir)) attr(table, "run_dir") <- result$out_dir
  attr(table, "manifest") <- result$manifest
  if (length(result$runs)) attr(table, "runs") <- run_results(result$runs, markers_table)
  table
}

# Weights cross as a JSON array (engine_options would refuse a length-2 vector).
as_weights <- function(weights) {
  if (is.null(weights)) return(NULL)
  if (!is.numeric(weights) || length(weights) != 2L) {
    cassia_abort("`weights` must be two numbers, c(general, subtype), e.g. c(0.7, 0.3).", class = "cassia_InputError")
  }
  I(as.numeric(weights))
}

expand_path <- function(path) {
  if (is.null(path)) return(NULL)
  normalizePath(path.expand(path), mustWork = FALSE)
}
