#' Majority vote across several runs or models
#'
#' A deterministic consensus, without any model call: every input casts one vote per cluster
#' for its general cell type, and separately for its top subtype. Names are unified through the
#' Cell Ontology first, so "CD8+ T cells" and "CD8-positive, alpha-beta T cell" count as the
#' same vote. Only answers that are evidence vote: a failed answer, one that never passed the
#' Validator, an "Unknown" and a word-for-word repeat of an earlier input (a deterministic
#' backend or a cached replay) are left out, and the `Left Out` column says which and why.
#' `Status` says how clear the vote was: `"consensus"` (at least two votes, all
#' agree), `"partial"` (more than half agree), `"conflict"` (no name has more than half),
#' `"single vote"` or `"no vote"`. Ties go to the name seen first, in input order. A thin
#' front end to the engine's `cassia.run_consensus()`: argument names and defaults are the
#' same.
#'
#' @param runs The runs to combine, as for [runCASSIA_similarity_score_batch()]: `runCASSIA_*()`
#'   results (each stands for its run directory), run directories, `summary.csv` paths, or
#'   summary data frames read from elsewhere.
#' @param labels One name per input for the per-input columns (`NULL`: folder or file names,
#'   `input-k` for data frames without a run directory).
#' @param ... Further named arguments passed to the engine unchanged.
#' @return A data frame with one row per cluster: `Cluster ID`, `Consensus General Type`,
#'   `Consensus General CL ID`, `Status`, `Votes`, `Majority Votes`, `Agreement` (the winner's
#'   share of the votes), `Consensus Subtype`, `Consensus Subtype CL ID`, `Subtype Status`,
#'   `Subtype Agreement`, `Left Out` (inputs whose answer did not vote, with the reason), then
#'   `<label> General` and `<label> Subtype` for every input.
#' @seealso [runCASSIA_similarity_score_batch()] scores agreement with the CS formula and
#'   optional agents.
#' @examples
#' \dontrun{
#' a <- runCASSIA_batch(loadExampleMarkers(), provider = "openai", out_dir = "run-gpt")
#' b <- runCASSIA_batch(loadExampleMarkers(), provider = "anthropic", out_dir = "run-claude")
#' runCASSIA_consensus(list(a, b))[, c("Cluster ID", "Consensus General Type", "Status")]
#' }
#' @export
runCASSIA_consensus <- function(runs, labels = NULL, ...) {
  inputs <- runs_inputs(runs)
  options <- engine_options(list(labels = as_labels(labels)), list(...))
  bridge_frame(bridge_request("consensus", runs = inputs, options = options))
}
