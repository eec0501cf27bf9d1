# Turning what the user passed as `markers` into a bridge request, with the checks that must
# happen before any model is called. Seurat objects get FindAllMarkers here.

#' Default arguments for Seurat::FindAllMarkers when CASSIA computes markers
#'
#' Positive markers only (CASSIA annotates from up-regulated genes); the remaining thresholds
#' are Seurat's own defaults. Override any of them with `find_markers_args`.
#' @noRd
cassia_find_markers_defaults <- function() {
  list(only.pos = TRUE, verbose = FALSE)
}

is_seurat <- function(x) inherits(x, "Seurat")

require_seurat <- function(what) {
  for (pkg in c("SeuratObject", "Seurat")) {
    if (!requireNamespace(pkg, quietly = TRUE)) {
      cassia_abort(paste0(what, " needs the ", pkg, " package; install it with install.packages(\"", pkg, "\")."),
                   class = "cassia_InputError")
    }
  }
}

check_seurat_object <- function(object, arg = "object") {
  if (!is_seurat(object)) {
    cassia_abort(paste0("`", arg, "` must be a Seurat object; got an object of class ",
                        paste(class(object), collapse = "/"), "."), class = "cassia_InputError")
  }
  require_seurat("Working with a Seurat object")
}

#' Cluster identity of every cell, as character, named by cell
#' @noRd
seurat_cluster_ids <- function(object, cluster_col = NULL) {
  if (is.null(cluster_col)) {
    ids <- SeuratObject::Idents(object)
  } else {
    if (!is.character(cluster_col) || length(cluster_col) != 1L) {
      cassia_abort("`cluster_col` must be one column name of the object's metadata (or NULL for Idents()).",
                   class = "cassia_InputError")
    }
    meta <- object[[]]
    if (!cluster_col %in% colnames(meta)) {
      cassia_abort(paste0("`cluster_col` \"", cluster_col, "\" is not a metadata column of the object; ",
                          "available columns: ", paste(colnames(meta), collapse = ", "), "."),
                   class = "cassia_InputError")
    }
    ids <- meta[[cluster_col]]
    names(ids) <- rownames(meta)
  }
  stats::setNames(as.character(ids), names(ids) %||% colnames(object))
}

check_clusters_exist <- function(clusters, available, where) {
  if (is.null(clusters)) return(invisible())
  missing <- setdiff(as.character(clusters), unique(available))
  if (length(missing)) {
    cassia_abort(paste0("Cluster(s) ", paste0("\"", missing, "\"", collapse = ", "), " do not exist in ", where,
                        "; available: ", paste(sort(unique(available)), collapse = ", "), "."),
                 class = "cassia_InputError")
  }
}

#' Run FindAllMarkers on a Seurat object with CASSIA's defaults
#'
#' @return A FindAllMarkers data frame with `cluster` as character.
#' @noRd
seurat_find_markers <- function(object, cluster_col = NULL, clusters = NULL, find_markers_args = list()) {
  check_seurat_object(object)
  ids <- seurat_cluster_ids(object, cluster_col)
  check_clusters_exist(clusters, ids, "the Seurat object")
  if (!is.null(cluster_col)) {
    SeuratObject::Idents(object) <- factor(ids[colnames(object)])
  }
  if (!is.list(find_markers_args)) {
    cassia_abort("`find_markers_args` must be a named list of Seurat::FindAllMarkers() arguments.",
                 class = "cassia_InputError")
  }
  args <- utils::modifyList(cassia_find_markers_defaults(), find_markers_args)
  markers <- do.call(Seurat::FindAllMarkers, c(list(object), args))
  if (!nrow(markers)) {
    cassia_abort("Seurat::FindAllMarkers() found no markers in this object; relax `find_markers_args` (e.g. logfc.threshold, min.pct).",
                 class = "cassia_InputError")
  }
  markers$cluster <- as.character(markers$cluster)
  rownames(markers) <- NULL
  markers
}

#' Build the markers part of a run request
#'
#' @return list(request = <bridge field>, table = <data frame computed from a Seurat object or NULL>)
#' @noRd
markers_request <- function(markers, clusters = NULL, cluster_col = NULL, find_markers_args = list()) {
  if (is_seurat(markers)) {
    table <- seurat_find_markers(markers, cluster_col, clusters, find_markers_args)
    return(list(request = list(table = bridge_table(table)), table = table))
  }
  if (!is.null(cluster_col)) {
    cassia_abort("`cluster_col` applies only when `markers` is a Seurat object.", class = "cassia_InputError")
  }
  if (is.data.frame(markers)) {
    if (!nrow(markers)) {
      cassia_abort("The marker table is empty (0 rows); pass FindAllMarkers() output with at least one marker.",
                   class = "cassia_InputError")
    }
    return(list(request = list(table = bridge_table(markers)), table = NULL))
  }
  if (is.character(markers) && length(markers) == 1L && !is.na(markers)) {
    path <- path.expand(markers)
    if (!file.exists(path)) {
      cassia_abort(paste0("Marker file not found: ", markers, ". Give the path of a FindAllMarkers CSV/TSV/RDS file ",
                          "or pass the data frame itself."), class = "cassia_InputError")
    }
    return(list(request = list(path = jsonlite::unbox(normalizePath(path))), table = NULL))
  }
  cassia_abort(paste0("`markers` must be a FindAllMarkers data frame, the path of a marker file, or a Seurat object; ",
                      "got an object of class ", paste(class(markers), collapse = "/"), "."),
               class = "cassia_InputError")
}

`%||%` <- function(x, y) if (is.null(x)) y else x
