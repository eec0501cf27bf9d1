#' Annotate every cluster with several models and settle their disagreements by discussion
#'
#' Each model in `models` runs the full CASSIA team (Annotator, Validator, Formatter) on every
#' cluster, all models at once, each in its own run directory `out_dir/models/<label>/`
#' (resumable, behind the response cache). Their agreement per cluster is measured on the Cell
#' Ontology: the consensus proportion (the share of all models behind the most voted general
#' type; a model without an answer lowers it), the entropy of the votes and the CS score;
#' "Unknown" and failed answers are no vote. Clusters below `threshold` go to up to `rounds`
#' rounds of deliberation, in which every model reads the markers and the others' answers and
#' reasoning (named "Annotator A", "Annotator B", never by vendor) and answers again; clusters
#' still without a consensus are decided by the `arbiter`, with its reasons. Agreed clusters
#' cost no extra call. A model whose run fails or exceeds `timeout` loses its votes and the
#' others go on; only when every model failed is the call an error. `symphonyCompare()` is the
#' same function under the original CASSIA name. A thin front end to the engine's
#' `cassia.run_ensemble()`: argument names and defaults are the same.
#'
#' @inheritParams runCASSIA_batch
#' @param models At least two models: a character vector of specs such as
#'   `"openai:gpt-4.1"`, `"anthropic:claude-sonnet-4-5"`, `"ollama:llama3.1:8b"`,
#'   `"http://127.0.0.1:8000/v1:my-model"` (a base URL, then the model), `"offline"` or
#'   `"claude-cli"`; or a list whose items are such strings or lists with `provider`, `model`
#'   and `label`. Labels (default: the model names) name the table's per-model columns and
#'   the run folders.
#' @param threshold Clusters whose consensus proportion is below this share of the models are
#'   discussed (default 2/3).
#' @param rounds Discussion rounds at most (default 2; 0 sends disputed clusters straight to the
#'   arbiter).
#' @param arbiter Who decides clusters the discussion did not settle: a model's label, a spec,
#'   or `NULL` for the first model that is not the offline annotator (which cannot arbitrate).
#' @param arbiter_model The arbiter's model, when `arbiter` is a vendor name (or `NULL`).
#' @param out_dir Folder for the ensemble (`summary.csv`, `ensemble.jsonl`, `transcripts/`,
#'   `manifest.json`, `report.html` with a page per cluster, and `models/<label>/`); `NULL`
#'   lets the engine choose one.
#' @param max_workers Clusters annotated at the same time by each model.
#' @param timeout Seconds each model's run may take (`NULL`: no limit).
#' @param resume Finish an interrupted ensemble in `out_dir`: the model runs finish what is
#'   missing, and a cluster is decided again only when a model's first answer changed.
#' @param report Write `report.html`.
#' @param cache_path Response cache file (`NULL`: the engine's default).
#' @param ... Further named arguments passed to the engine unchanged.
#' @return A data frame with one row per cluster: `Cluster ID`, `Predicted General Cell Type`,
#'   `Predicted Detailed Cell Type`, `Cell Ontology ID` (the consensus), `Status`,
#'   `Ensemble Status` (`agreed`, `deliberated`, `arbitrated`, `unresolved` or `no vote`),
#'   `Consensus Proportion`, `Entropy`, `CS`, `Models Answered`, `Initial Consensus Proportion`,
#'   `Rounds`, `Deliberation Calls`, `Arbiter Reasoning`, `Notes`, `Tokens`, `Cost USD`, then
#'   for each model `<label> General`, `<label> Detailed`, `<label> Status`, `<label> Final
#'   General`, `<label> Final Detailed`, `<label> Tokens` and `<label> Cost USD`. Attributes:
#'   `run_dir` (the `out_dir`, see [cassia_run_dir()]) and `manifest`. Pass it to
#'   [add_cassia_to_seurat()] to write the consensus into a Seurat object.
#' @seealso [runCASSIA_uncertainty()] measures agreement of one model with itself;
#'   [runCASSIA_consensus()] is a plain vote over finished runs.
#' @examples
#' \dontrun{
#' ens <- runCASSIA_ensemble(loadExampleMarkers(), tissue = "peripheral blood",
#'                           models = c("openai:gpt-4.1", "anthropic:claude-sonnet-4-5", "offline"),
#'                           out_dir = "pbmc-ensemble")
#' ens[, c("Cluster ID", "Predicted General Cell Type", "Ensemble Status", "Consensus Proportion")]
#' browseURL(file.path(cassia_run_dir(ens), "report.html"))
#' }
#' @export
runCASSIA_ensemble <- function(markers, models, tissue = NULL, species = "human", threshold = 2 / 3, rounds = 2,
                               arbiter = NULL, arbiter_model = NULL, out_dir = NULL, max_workers = 4,
                               timeout = NULL, resume = FALSE, additional_info = NULL, validator_rounds = 3,
                               cancer_aware = FALSE, use_cache = TRUE, cache_path = NULL, progress = TRUE,
                               report = TRUE, clusters = NULL, n_genes = 50, ranking = "avg_log2FC",
                               max_p_val_adj = 0.05, min_log2fc = 0.25, min_pct1 = 0.1, cluster_col = NULL,
                               find_markers_args = list(), ...) {
  options <- engine_options(list(
    models = as_models(models), tissue = tissue, species = species, threshold = threshold, rounds = rounds,
    arbiter = arbiter, arbiter_model = arbiter_model, out_dir = out_dir, max_workers = max_workers,
    timeout = timeout, resume = resume, additional_info = additional_info, validator_rounds = validator_rounds,
    cancer_aware = cancer_aware, use_cache = use_cache, cache_path = expand_path(cache_path), progress = progress,
    report = report, clusters = clusters, n_genes = n_genes, ranking = ranking
  ), list(...))
  prepared <- markers_request(markers, clusters = options$clusters, cluster_col = cluster_col,
                              find_markers_args = find_markers_args)
  result <- bridge_request("run", verb = "ensemble", markers = prepared$request, options = options,
                           filters = marker_filters(list(max_p_val_adj = max_p_val_adj, min_log2fc = min_log2fc,
                                                         min_pct1 = min_pct1)),
                           caller = "runCASSIA_ensemble", arguments = verb_arguments("runCASSIA_ensemble"))
  table <- bridge_frame(result$table)
  attr(table, "run_dir") <- result$out_dir
  attr(table, "manifest") <- result$manifest
  if (!is.null(prepared$table)) attr(table, "markers") <- prepared$table
  lost <- Filter(function(m) !identical(m$status, "complete"), result$manifest$models)
  if (length(lost)) {
    warning(structure(class = c("cassia_partial_failure", "warning", "condition"), list(
      message = paste0(length(lost), " of ", length(result$manifest$models), " models did not finish: ",
                       paste(vapply(lost, function(m) paste0(m$label, " (", m$status,
                                                              if (!is.null(m$error)) paste0(": ", m$error) else "",
                                                              ")"), ""), collapse = "; "),
                       ". Their missing votes are shown in the `<label> Status` columns; fix the cause and call ",
                       "runCASSIA_ensemble() again with resume = TRUE and the same out_dir."),
      call = NULL)))
  }
  table
}

#' @rdname runCASSIA_ensemble
#' @export
symphonyCompare <- runCASSIA_ensemble

# The members cross as a JSON array of specs (strings) or objects (provider, model, label).
as_models <- function(models) {
  if (missing(models) || is.null(models) || !length(models)) {
    cassia_abort("`models` names the ensemble's members: give at least two, e.g. c(\"openai:gpt-4.1\", \"offline\").",
                 class = "cassia_InputError")
  }
  if (is.character(models)) return(I(as.character(models)))
  if (!is.list(models)) {
    cassia_abort("`models` must be a character vector of specs or a list of specs and lists (provider, model, label).",
                 class = "cassia_InputError")
  }
  I(lapply(models, function(m) if (is.list(m)) lapply(m, jsonlite::unbox) else jsonlite::unbox(as.character(m))))
}
