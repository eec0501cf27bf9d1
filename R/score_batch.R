#' Score the annotations of an existing run
#'
#' Gives each annotated, not yet scored cluster of a run a 0-100 score with reasoning (all of
#' them again with `rescore = TRUE`), updates the run's `summary.csv` and report, and returns
#' the summary. A thin front end to the engine's `cassia.run_score_batch()`.
#'
#' @param run_dir A run directory (the `out_dir` of [runCASSIA_batch()]), or the data frame a
#'   `runCASSIA_*()` function returned.
#' @inheritParams runCASSIA_batch
#' @param rescore Score again clusters that already have a score.
#' @param report Update `report.html` in the run directory.
#' @return The run's summary data frame (see [runCASSIA_batch()]) with `Score` and
#'   `Scoring Reasoning` filled in.
#' @examples
#' \dontrun{
#' res <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = tempfile())
#' scored <- runCASSIA_score_batch(res, provider = "offline")
#' scored[, c("Cluster ID", "Score")]
#' }
#' @export
runCASSIA_score_batch <- function(run_dir, provider = NULL, model = NULL, api_key = NULL, base_url = NULL,
                                  max_workers = 4, use_cache = TRUE, progress = TRUE, rescore = FALSE,
                                  report = TRUE, ...) {
  if (is.data.frame(run_dir)) run_dir <- cassia_run_dir(run_dir)
  if (!is.character(run_dir) || length(run_dir) != 1L || is.na(run_dir)) {
    cassia_abort("`run_dir` must be the path of a CASSIA run directory or a runCASSIA_*() result.",
                 class = "cassia_InputError")
  }
  if (!dir.exists(path.expand(run_dir))) {
    cassia_abort(paste0("Run directory not found: ", run_dir, ". Give the out_dir of an earlier runCASSIA_batch()."),
                 class = "cassia_InputError")
  }
  options <- engine_options(list(
    provider = provider, model = model, api_key = api_key, base_url = base_url, max_workers = max_workers,
    use_cache = use_cache, progress = progress, rescore = rescore, report = report
  ), list(...))
  result <- bridge_request("run", verb = "score_batch", run_dir = normalizePath(path.expand(run_dir)),
                           options = options)
  check_failures(run_result(result), "runCASSIA_score_batch")
}
