#' Write CASSIA annotations into a Seurat object's metadata
#'
#' Every cell gets the annotation of its cluster. Clusters are matched as text, exactly first:
#' cluster `"1"` never takes the annotation of cluster `"10"`. A cluster whose name differs
#' only by zero-padding or surrounding spaces (`"01"` in the object, `"1"` in the results, or
#' `" 3"` and `"3"`) is matched too when that is unambiguous, and said in a message.
#'
#' Labels are never lost: a cluster that failed, or has no row in `results`, keeps the values
#' its cells already had in these columns (from an earlier run), and only cells that had none
#' stay `NA`. Either way a warning counts those cells by cluster and says why (annotation
#' failed and its reason; the cluster is not in the results, e.g. `FindAllMarkers()` found no
#' markers for it or it was left out with `clusters`). The run is recorded in
#' `Misc(object, "CASSIA")` (every run added, in order) and `Tool(object, "CASSIA")` (the
#' latest): run directory, settings, engine version, date, the columns written, and which
#' clusters were annotated, failed, kept earlier labels or were matched loosely.
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
  clusters <- unique(ids)
  cluster_row <- match_clusters(clusters, result_ids)
  if (all(is.na(cluster_row))) {
    cassia_abort(paste0("None of the clusters in `results` (", paste(utils::head(result_ids, 10), collapse = ", "),
                        ") matches the object's clusters (", paste(utils::head(sort(clusters), 10), collapse = ", "),
                        "). Pass the metadata column the markers were computed from as `cluster_col`."),
                 class = "cassia_InputError")
  }
  loose <- attr(cluster_row, "loose")
  if (length(loose)) {
    message("Matched clusters by name without zero-padding or spaces: ",
            paste0("\"", names(loose), "\" = \"", loose, "\"", collapse = ", "))
  }
  status <- if ("Status" %in% names(results)) as.character(results[["Status"]]) else rep("ok", nrow(results))
  general_all <- blank_to_na(as.character(results[["Predicted General Cell Type"]]))
  usable_row <- !(is.na(general_all) | (!is.na(status) & status == "failed"))
  row <- cluster_row[match(ids, clusters)]  # one per cell
  labelled <- !is.na(row) & usable_row[ifelse(is.na(row), 1L, row)]
  row[!labelled] <- NA_integer_

  pick <- function(column, type = as.character) {
    if (!column %in% names(results)) return(type(rep(NA, length(ids))))
    values <- type(results[[column]])
    if (is.character(values)) values <- blank_to_na(values)
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
  # Cells without a new annotation keep what they had: a failed rerun never wipes labels.
  previous <- object[[]]
  kept <- FALSE
  for (column in intersect(names(metadata), names(previous))) {
    old <- previous[names(ids), column]
    old <- if (is.numeric(metadata[[column]])) suppressWarnings(as.numeric(old)) else as.character(old)
    metadata[[column]][!labelled] <- old[!labelled]
    kept <- TRUE
  }
  object <- SeuratObject::AddMetaData(object, metadata)
  outcome <- explain_unlabelled(ids, clusters, cluster_row, usable_row, results, status, kept,
                                metadata[[paste0(prefix, "label")]], attr(results, "markers", exact = TRUE))
  record_cassia_run(object, results, cluster_col, prefix, names(metadata), outcome, loose)
}

# For each of the object's clusters, the row of `results` it takes (NA: none). Exact names
# first; then names equal once trimmed of spaces and (for numbers) of leading zeros, when
# exactly one result and one object cluster share that form. Loose matches are returned in
# the attribute "loose" (object name -> result name).
match_clusters <- function(clusters, result_ids) {
  row <- match(clusters, result_ids)
  open <- which(is.na(row))
  loose <- character(0)
  if (length(open)) {
    result_keys <- cluster_key(result_ids)
    cluster_keys <- cluster_key(clusters)
    taken <- stats::na.omit(row)
    for (i in open) {
      candidates <- which(result_keys == cluster_keys[[i]])
      candidates <- setdiff(candidates, taken)
      if (length(candidates) == 1L && sum(cluster_keys == cluster_keys[[i]]) == 1L) {
        row[[i]] <- candidates
        taken <- c(taken, candidates)
        loose[[clusters[[i]]]] <- result_ids[[candidates]]
      }
    }
  }
  attr(row, "loose") <- loose
  row
}

cluster_key <- function(x) {
  x <- trimws(x)
  digits <- grepl("^[0-9]+$", x)
  x[digits] <- sub("^0+(?=[0-9])", "", x[digits], perl = TRUE)
  x
}

blank_to_na <- function(values) {
  values[!is.na(values) & !nzchar(trimws(values))] <- NA
  values
}

# Which clusters got no new annotation and why; warns with cell counts when there are any.
explain_unlabelled <- function(ids, clusters, cluster_row, usable_row, results, status, kept, final_label, markers) {
  errors <- if ("Error" %in% names(results)) as.character(results[["Error"]]) else rep(NA_character_, nrow(results))
  marker_clusters <- if (is.data.frame(markers) && "cluster" %in% names(markers)) unique(as.character(markers$cluster))
  reasons <- character(0)
  failed <- absent <- character(0)
  for (i in seq_along(clusters)) {
    r <- cluster_row[[i]]
    if (!is.na(r) && usable_row[[r]]) next
    cluster <- clusters[[i]]
    if (is.na(r)) {
      absent <- c(absent, cluster)
      why <- if (!is.null(marker_clusters) && !cluster %in% marker_clusters) {
        "FindAllMarkers() found no markers for it"
      } else {
        "it has no row in the results (left out with `clusters`, or its markers were filtered away)"
      }
    } else {
      failed <- c(failed, cluster)
      why <- if (!is.na(status[[r]]) && status[[r]] == "failed") {
        paste0("its annotation failed: ", first_line(errors[[r]]))
      } else {
        "its row has no general cell type"
      }
    }
    cells <- sum(ids == cluster)
    kept_cells <- sum(ids == cluster & !is.na(final_label))
    reasons[[cluster]] <- paste0("cluster \"", cluster, "\" (", cells, " cell", if (cells == 1) "" else "s", "): ",
                                 why, if (kept_cells) paste0("; ", kept_cells, " kept their earlier labels") else "")
  }
  if (length(reasons)) {
    unlabelled <- sum(is.na(final_label))
    warning(structure(class = c("cassia_unlabelled_cells", "warning", "condition"), list(
      message = paste0(sum(ids %in% c(failed, absent)), " of ", length(ids), " cells got no new CASSIA annotation",
                       if (unlabelled) paste0(" (", unlabelled, " are left without any label)") else "",
                       ": ", paste(reasons, collapse = "; "), "."),
      call = NULL)))
  }
  annotated <- clusters[!is.na(cluster_row) & usable_row[ifelse(is.na(cluster_row), 1L, cluster_row)]]
  list(annotated = annotated, failed = failed, absent = absent)
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
record_cassia_run <- function(object, results, cluster_col, prefix, columns, outcome, loose) {
  manifest <- attr(results, "manifest", exact = TRUE)
  record <- list(
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%S%z"),
    run_dir = attr(results, "run_dir", exact = TRUE),
    cluster_col = cluster_col %||% "Idents",
    prefix = prefix,
    columns = columns,
    clusters_annotated = sort(outcome$annotated),
    clusters_failed = sort(outcome$failed),
    clusters_without_annotation = sort(outcome$absent),
    clusters_matched_loosely = as.list(loose),
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
