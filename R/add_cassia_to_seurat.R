#' Write CASSIA annotations into a Seurat object's metadata
#'
#' Every cell gets the annotation of its cluster. Clusters are matched exactly, as text:
#' cluster `"1"` never takes the annotation of cluster `"10"`. Cells whose cluster has no row in
#' `results` get `NA`. The run is recorded in `Misc(object, "CASSIA")` (every run added, in
#' order) and `Tool(object, "CASSIA")` (the latest): run directory, settings, engine version,
#' date, and the columns written.
#'
#' Columns added (with the default `prefix`): `CASSIA_general_celltype`,
#' `CASSIA_detailed_celltype`, `CASSIA_subtypes`, `CASSIA_mixed_celltypes`, `CASSIA_score`,
#' `CASSIA_cell_ontology_id` and `CASSIA_label` (`"general / detailed"`, or the general type
#' alone when there is no detailed one).
#'
#' @param object A Seurat object.
#' @param results The data frame a `runCASSIA_*()` function returned, another data frame with
#'   the same columns (at least `Cluster ID` and `Predicted General Cell Type`), or a run
#'   directory (its `summary.csv` is read).
#' @param cluster_col Metadata column holding each cell's cluster; `NULL` uses `Idents(object)`.
#' @param prefix Prefix of the metadata column names.
#' @return The Seurat object with the new metadata columns.
#' @examples
#' \dontrun{
#' library(Seurat)
#' res <- runCASSIA_pipeline(FindAllMarkers(pbmc_small, only.pos = TRUE),
#'                           provider = "offline", out_dir = tempfile())
#' pbmc <- add_cassia_to_seurat(pbmc_small, res)
#' DimPlot(pbmc, group.by = "CASSIA_label")
#' }
#' @export
add_cassia_to_seurat <- function(object, results, cluster_col = NULL, prefix = "CASSIA_") {
  check_seurat_object(object)
  if (!is.character(prefix) || length(prefix) != 1L || is.na(prefix)) {
    cassia_abort("`prefix` must be a single string, e.g. \"CASSIA_\".", class = "cassia_InputError")
  }
  results <- as_results_frame(results)
  ids <- seurat_cluster_ids(object, cluster_col)
  result_ids <- as.character(results[["Cluster ID"]])
  if (anyDuplicated(result_ids)) {
    dups <- unique(result_ids[duplicated(result_ids)])
    cassia_abort(paste0("`results` has more than one row for cluster(s) ", paste0("\"", dups, "\"", collapse = ", "),
                        "; keep one row per cluster."), class = "cassia_InputError")
  }
  row <- match(ids, result_ids)  # exact, whole-string matching
  if (all(is.na(row))) {
    cassia_abort(paste0("None of the clusters in `results` (", paste(utils::head(result_ids, 10), collapse = ", "),
                        ") matches the object's clusters (", paste(utils::head(sort(unique(ids)), 10), collapse = ", "),
                        "). Pass the metadata column the markers were computed from as `cluster_col`."),
                 class = "cassia_InputError")
  }
  pick <- function(column, type = as.character) {
    if (!column %in% names(results)) return(type(rep(NA, length(ids))))
    values <- type(results[[column]])
    if (is.character(values)) values[!is.na(values) & !nzchar(trimws(values))] <- NA
    values[row]
  }
  general <- pick("Predicted General Cell Type")
  detailed <- pick("Predicted Detailed Cell Type")
  label <- ifelse(is.na(detailed) | detailed == general, general, paste(general, detailed, sep = " / "))
  metadata <- data.frame(
    general_celltype = general,
    detailed_celltype = detailed,
    subtypes = pick("Subtypes"),
    mixed_celltypes = pick("Possible Mixed Cell Types"),
    score = pick("Score", as.numeric),
    cell_ontology_id = pick("Cell Ontology ID"),
    label = label,
    row.names = names(ids),
    stringsAsFactors = FALSE
  )
  names(metadata) <- paste0(prefix, names(metadata))
  object <- SeuratObject::AddMetaData(object, metadata)
  record_cassia_run(object, results, cluster_col, prefix, names(metadata),
                    annotated = intersect(result_ids, unique(ids)), unmatched = setdiff(unique(ids), result_ids))
}

# A results data frame from whatever the user passed.
as_results_frame <- function(results) {
  if (is.character(results) && length(results) == 1L && !is.na(results)) {
    summary <- file.path(path.expand(results), "summary.csv")
    if (!file.exists(summary)) {
      cassia_abort(paste0("No summary.csv in ", results, "; pass the data frame a runCASSIA_*() function returned ",
                          "or the run directory it wrote."), class = "cassia_InputError")
    }
    frame <- utils::read.csv(summary, check.names = FALSE, colClasses = c(`Cluster ID` = "character"),
                             na.strings = c("", "NA"))
    attr(frame, "run_dir") <- normalizePath(path.expand(results))
    manifest <- file.path(results, "manifest.json")
    if (file.exists(manifest)) attr(frame, "manifest") <- jsonlite::read_json(manifest)
    return(frame)
  }
  if (!is.data.frame(results)) {
    cassia_abort(paste0("`results` must be the data frame a runCASSIA_*() function returned or a run directory; ",
                        "got an object of class ", paste(class(results), collapse = "/"), "."),
                 class = "cassia_InputError")
  }
  needed <- c("Cluster ID", "Predicted General Cell Type")
  missing <- setdiff(needed, names(results))
  if (length(missing)) {
    cassia_abort(paste0("`results` lacks the column(s) ", paste0("\"", missing, "\"", collapse = ", "),
                        "; pass the data frame a runCASSIA_*() function returned."), class = "cassia_InputError")
  }
  results
}

# Remember what was written and from which run, in Misc() (history) and Tool() (latest).
record_cassia_run <- function(object, results, cluster_col, prefix, columns, annotated, unmatched) {
  manifest <- attr(results, "manifest", exact = TRUE)
  record <- list(
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%S%z"),
    run_dir = attr(results, "run_dir", exact = TRUE),
    cluster_col = cluster_col %||% "Idents",
    prefix = prefix,
    columns = columns,
    clusters_annotated = sort(annotated),
    clusters_without_annotation = sort(unmatched),
    engine_version = manifest$versions$cassia %||% NA_character_,
    r_package_version = as.character(utils::packageVersion("CASSIA")),
    settings = manifest$settings,
    providers = manifest$providers
  )
  # Written through the slots: the Misc<-/Tool<- replacement functions warn on overwrite and
  # name the Tool() entry after the calling function, which would differ between call paths.
  misc <- methods::slot(object, "misc")
  misc$CASSIA <- c(misc$CASSIA, list(record))
  methods::slot(object, "misc") <- misc
  tools <- methods::slot(object, "tools")
  tools$CASSIA <- record
  methods::slot(object, "tools") <- tools
  object
}
