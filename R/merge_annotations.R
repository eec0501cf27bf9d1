#' Group annotations into broader cell types
#'
#' Adds one `Merged_Grouping_k` column per level of `levels` (broadest first: with the default
#' levels, `Merged_Grouping_1` is e.g. "T cell", `Merged_Grouping_2` "CD8-positive,
#' alpha-beta T cell", `Merged_Grouping_3` the annotation's own Cell Ontology label) and a
#' `Merge Notes` column, for plots and summaries at several resolutions. A language model
#' proposes the groups and the Cell Ontology checks them (a group that does not contain the
#' annotation is replaced by their closest common ancestor, said in `Merge Notes`); with
#' `provider = "offline"` the grouping comes from the ontology alone, deterministically. The
#' annotation grouped on each row is `column` when given, else `Predicted Detailed Cell Type`,
#' else `Predicted General Cell Type`. A thin front end to the engine's
#' `cassia.merge_annotations()`: argument names and defaults are the same.
#'
#' @param results A summary data frame (what a `runCASSIA_*()` function returned, or a
#'   summary read with `read.csv(path, check.names = FALSE)`), a run directory, or the path of
#'   a `summary.csv`.
#' @param provider,model Who proposes the groups: a vendor name, an OpenAI-compatible base URL
#'   or `"offline"`; `NULL` picks the first vendor whose API key is set, else `"offline"`.
#' @param levels Names of the grouping levels, broadest first; one `Merged_Grouping_k` column
#'   each.
#' @param column The column holding the annotations to group (`NULL`: the detailed, else the
#'   general cell type).
#' @param species,tissue Given to the model.
#' @inheritParams runCASSIA_batch
#' @param use_cache Reuse cached model answers.
#' @param cache_path Response cache file (`NULL`: the engine's default).
#' @param ... Further named arguments passed to the engine unchanged.
#' @return The data frame given (or, for a path, the run's summary) with the columns
#'   `Merged_Grouping_1` ... `Merged_Grouping_<length(levels)>` and `Merge Notes` added; a data
#'   frame keeps its other columns, types and attributes.
#' @examples
#' \dontrun{
#' res <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = tempfile())
#' merged <- merge_annotations(res, provider = "offline")
#' merged[, c("Cluster ID", "Merged_Grouping_1", "Merged_Grouping_2", "Merged_Grouping_3")]
#' }
#' @export
merge_annotations <- function(results, provider = NULL, model = NULL,
                              levels = c("broad", "detailed", "very detailed"), column = NULL, species = "human",
                              tissue = NULL, api_key = NULL, base_url = NULL, use_cache = TRUE, cache_path = NULL,
                              ...) {
  if (is.data.frame(results) && !nrow(results)) {
    cassia_abort("`results` has no rows; pass the summary of a run.", class = "cassia_InputError")
  }
  if (!is.character(levels) || !length(levels) || anyNA(levels)) {
    cassia_abort("`levels` must name at least one grouping level, e.g. c(\"broad\", \"detailed\").",
                 class = "cassia_InputError")
  }
  # A data frame is grouped as given (not re-read from its run directory): rows may be filtered.
  input <- run_input(results, "`results`", use_run_dir = FALSE)
  options <- engine_options(list(
    provider = provider, model = model, levels = I(levels), column = column, species = species, tissue = tissue,
    api_key = api_key, base_url = base_url, use_cache = use_cache, cache_path = expand_path(cache_path)
  ), list(...))
  merged <- bridge_frame(bridge_request("merge", results = list(input), options = options))
  if (!is.data.frame(results)) return(merged)
  added <- grep("^(Merged_Grouping_[0-9]+|Merge Notes)$", names(merged), value = TRUE)
  for (name in added) results[[name]] <- merged[[name]]
  results
}
