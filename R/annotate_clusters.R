#' Annotate clusters in one call
#'
#' The one-call path. For a Seurat object: computes markers with `Seurat::FindAllMarkers()`
#' (positive markers only), runs the full pipeline ([runCASSIA_pipeline()]) and writes the
#' annotations into the object's metadata ([add_cassia_to_seurat()]); returns the annotated
#' object. For a marker data frame: runs the pipeline and returns its summary data frame.
#'
#' Failures are loud and never cost labels: when some clusters fail, a warning names them and
#' their cells keep the CASSIA labels they had (see [add_cassia_to_seurat()]); when every
#' cluster fails, the call is an error and the object is not changed. Rerun with
#' `resume = TRUE` and the same `out_dir` to annotate only what failed.
#'
#' @param object A Seurat object or a FindAllMarkers data frame.
#' @param ... Arguments for [runCASSIA_pipeline()], e.g. `tissue`, `species`, `provider`,
#'   `model`, `out_dir`.
#' @return For a Seurat object, the object with CASSIA metadata columns (the marker table and
#'   the run are recorded in `Misc(object, "CASSIA")`); for a data frame, the run's summary.
#' @examples
#' \dontrun{
#' library(Seurat)
#' pbmc <- annotate_clusters(pbmc_small, tissue = "peripheral blood", species = "human",
#'                           provider = "offline", out_dir = tempfile())
#' table(pbmc$CASSIA_general_celltype)
#' DimPlot(pbmc, group.by = "CASSIA_label")
#' }
#' @export
annotate_clusters <- function(object, ...) {
  UseMethod("annotate_clusters")
}

#' @rdname annotate_clusters
#' @export
annotate_clusters.default <- function(object, ...) {
  cassia_abort(paste0("annotate_clusters() needs a Seurat object or a FindAllMarkers data frame; got an object of class ",
                      paste(class(object), collapse = "/"), "."), class = "cassia_InputError")
}

#' @rdname annotate_clusters
#' @export
annotate_clusters.data.frame <- function(object, ...) {
  runCASSIA_pipeline(object, ...)
}

#' @rdname annotate_clusters
#' @param cluster_col Metadata column defining the clusters; `NULL` uses `Idents(object)`.
#' @param prefix Prefix of the metadata columns added.
#' @param find_markers_args Arguments for `Seurat::FindAllMarkers()` overriding CASSIA's
#'   defaults (`only.pos = TRUE`, `verbose = FALSE`).
#' @export
annotate_clusters.Seurat <- function(object, ..., cluster_col = NULL, prefix = "CASSIA_",
                                     find_markers_args = list()) {
  check_seurat_object(object)
  args <- list(...)
  if ("markers" %in% names(args)) {
    cassia_abort("annotate_clusters() computes the markers of a Seurat object itself; to use your own table, call runCASSIA_pipeline(markers) and then add_cassia_to_seurat().",
                 class = "cassia_InputError")
  }
  # Fail on bad arguments before FindAllMarkers spends any time.
  seurat_cluster_ids(object, cluster_col)
  results <- tryCatch(
    runCASSIA_pipeline(object, ..., cluster_col = cluster_col, find_markers_args = find_markers_args),
    cassia_run_failed = function(err) {
      err$message <- paste(err$message, "The Seurat object was not changed.")
      stop(err)
    }
  )
  object <- add_cassia_to_seurat(object, results, cluster_col = cluster_col, prefix = prefix)
  misc <- methods::slot(object, "misc")
  latest <- length(misc$CASSIA)
  misc$CASSIA[[latest]]$markers <- attr(results, "markers", exact = TRUE)
  methods::slot(object, "misc") <- misc
  object
}
