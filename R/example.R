#' The example marker table shipped with CASSIA
#'
#' `Seurat::FindAllMarkers(pbmc_small, only.pos = TRUE)` on SeuratObject's `pbmc_small`
#' (80 peripheral blood mononuclear cells, clusters `"0"`, `"1"` and `"2"`), made by the
#' project's `scripts/make_example_data.R`. Useful to try CASSIA without data of your own.
#'
#' @return A data frame with the FindAllMarkers columns `p_val`, `avg_log2FC`, `pct.1`,
#'   `pct.2`, `p_val_adj`, `cluster` (character) and `gene`.
#' @examples
#' markers <- loadExampleMarkers()
#' head(markers)
#' table(markers$cluster)
#' @export
loadExampleMarkers <- function() {
  path <- system.file("extdata", "pbmc_small_markers.csv", package = "CASSIA", mustWork = TRUE)
  utils::read.csv(path, colClasses = c(cluster = "character", gene = "character"), check.names = FALSE)
}
