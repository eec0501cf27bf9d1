# Makes inst/extdata/pbmc_small_markers.csv (and its copy python/cassia/data/, which the Python
# package ships): the marker table CASSIA's examples, vignettes and set-up run on. Source: SeuratObject's bundled `pbmc_small` (80 PBMCs, 3 clusters in Idents()),
# markers from Seurat::FindAllMarkers(only.pos = TRUE) with Seurat's default thresholds.
#
# Run from the repository root:  Rscript scripts/make_example_data.R
# Deterministic: same Seurat version, same table. Commit the CSV together with this script.

suppressPackageStartupMessages({
  library(SeuratObject)
  library(Seurat)
})

out_file <- file.path("inst", "extdata", "pbmc_small_markers.csv")
if (!dir.exists(dirname(out_file))) {
  stop("run this script from the repository root (", dirname(out_file), " not found)", call. = FALSE)
}

data("pbmc_small", package = "SeuratObject", envir = environment())
set.seed(42)
markers <- FindAllMarkers(pbmc_small, only.pos = TRUE, verbose = FALSE)

# Keep FindAllMarkers' columns and order; the gene names already sit in the `gene` column,
# so the row names (gene names with ".1" suffixes for repeats) are dropped.
markers <- markers[, c("p_val", "avg_log2FC", "pct.1", "pct.2", "p_val_adj", "cluster", "gene")]
markers$cluster <- as.character(markers$cluster)
write.csv(markers, out_file, row.names = FALSE)
engine_copy <- file.path("python", "cassia", "data", "pbmc_small_markers.csv")
if (dir.exists(dirname(engine_copy))) invisible(file.copy(out_file, engine_copy, overwrite = TRUE))

counts <- table(markers$cluster)
message(sprintf("wrote %s: %d rows, clusters %s (Seurat %s)", out_file, nrow(markers),
                paste(sprintf("%s=%d", names(counts), counts), collapse = ", "),
                as.character(utils::packageVersion("Seurat"))))
