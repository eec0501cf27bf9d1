#' Annotate the subclusters of one population together
#'
#' All subclusters of one population (for example the T cells of a tumour, reclustered) are
#' annotated in one analysis, so the labels are told apart from each other rather than from the
#' whole tissue; larger populations are split into groups of `group_size` and their labels
#' harmonised. Every answer is then scored. A thin front end to the engine's
#' `cassia.run_subclusters()`.
#'
#' @inheritParams runCASSIA_pipeline
#' @param markers Marker table of the subclusters: a FindAllMarkers data frame, a file path, or
#'   a Seurat object holding only the population (its `Idents()` or `cluster_col` are the
#'   subclusters).
#' @param major_cluster_info The parent population, e.g. `"CD8 T cells from a human tumour"`.
#' @param group_size Subclusters per model call.
#' @param score Score every subcluster's annotation.
#' @param max_retries Times to ask again for subclusters a reply left out.
#' @return One row per subcluster: `Cluster ID`, `Main Cell Type`, `Sub Cell Type`,
#'   `Key Markers`, `Reasoning`, `Score`, `Scoring Reasoning`, `Group`, `Attempts`,
#'   `Consistency Note`, `Marker List`, `Status`, `Error`, `Tokens`, `Cost USD`; attributes
#'   `run_dir`, `manifest` and (for Seurat input) `markers`.
#' @examples
#' \dontrun{
#' t_cells <- subset(seurat_object, idents = c("3", "7"))
#' t_cells <- FindClusters(FindNeighbors(t_cells), resolution = 0.8)
#' res <- runCASSIA_subclusters(t_cells, major_cluster_info = "CD8 T cells from a human tumour",
#'                              provider = "openai")
#' }
#' @export
runCASSIA_subclusters <- function(markers, major_cluster_info, provider = NULL, model = NULL, out_dir = NULL,
                                  group_size = 10, n_genes = 50, ranking = "avg_log2FC", species = "human",
                                  tissue = NULL, progress = TRUE, score = TRUE, max_retries = 2, max_workers = 4,
                                  scoring_provider = NULL, scoring_model = NULL, api_key = NULL, base_url = NULL,
                                  use_cache = TRUE, report = TRUE, score_threshold = 75,
                                  max_p_val_adj = 0.05, min_log2fc = 0.25, min_pct1 = 0.1, cluster_col = NULL,
                                  find_markers_args = list(), ...) {
  if (missing(major_cluster_info) || !is.character(major_cluster_info) || length(major_cluster_info) != 1L ||
      is.na(major_cluster_info) || !nzchar(trimws(major_cluster_info))) {
    cassia_abort("`major_cluster_info` must describe the parent population, e.g. \"CD8 T cells from a human tumour\".",
                 class = "cassia_InputError")
  }
  options <- engine_options(list(
    major_cluster_info = major_cluster_info, provider = provider, model = model, out_dir = out_dir,
    group_size = group_size, n_genes = n_genes, ranking = ranking, species = species, tissue = tissue,
    progress = progress, score = score, max_retries = max_retries, max_workers = max_workers,
    scoring_provider = scoring_provider, scoring_model = scoring_model, api_key = api_key, base_url = base_url,
    use_cache = use_cache, report = report, score_threshold = score_threshold
  ), list(...))
  run_markers_verb("subclusters", markers, options, list(max_p_val_adj = max_p_val_adj, min_log2fc = min_log2fc, min_pct1 = min_pct1),
                   caller = "runCASSIA_subclusters", cluster_col = cluster_col, find_markers_args = find_markers_args)
}
