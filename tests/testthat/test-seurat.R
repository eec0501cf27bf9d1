# add_cassia_to_seurat() and the one-call Seurat path, on SeuratObject's pbmc_small.

hand_results <- function() {
  data.frame(
    `Cluster ID` = c("10", "1"),
    `Predicted General Cell Type` = c("B cell", "T cell"),
    `Predicted Detailed Cell Type` = c("naive B cell", "T cell"),
    `Possible Mixed Cell Types` = c("", "NK cell"),
    Score = c(91, 62),
    `Cell Ontology ID` = c("CL:0000788", "CL:0000084"),
    Subtypes = c("naive B cell, memory B cell", "CD4-positive, alpha-beta T cell"),
    check.names = FALSE, stringsAsFactors = FALSE
  )
}

# pbmc_small with a cluster column holding "1", "10" and "2" (2 has no annotation).
pbmc_with_groups <- function() {
  object <- pbmc()
  groups <- rep(c("1", "10", "2"), times = c(30, 30, 20))
  object$cassia_test_group <- factor(groups, levels = c("2", "10", "1"))
  object
}

test_that("every cell gets its own cluster's annotation: exact matching, '1' is not '10'", {
  require_package("SeuratObject")
  object <- pbmc_with_groups()
  expect_warning(out <- add_cassia_to_seurat(object, hand_results(), cluster_col = "cassia_test_group"),
                 "20 of 80 cells got no new CASSIA annotation \\(20 are left without any label\\): cluster \"2\" \\(20 cells\\): it has no row in the results",
                 class = "cassia_unlabelled_cells")
  meta <- out[[]]
  group <- as.character(meta$cassia_test_group)
  expect_true(all(meta$CASSIA_general_celltype[group == "1"] == "T cell"))
  expect_true(all(meta$CASSIA_general_celltype[group == "10"] == "B cell"))
  expect_true(all(meta$CASSIA_score[group == "10"] == 91))
  expect_true(all(meta$CASSIA_cell_ontology_id[group == "1"] == "CL:0000084"))
  expect_true(all(meta$CASSIA_subtypes[group == "10"] == "naive B cell, memory B cell"))
  # a cluster without annotation stays NA, in every column
  added <- grep("^CASSIA_", names(meta), value = TRUE)
  expect_length(added, 7L)
  expect_true(all(is.na(meta[group == "2", added])))
  # blank text in the results is missing, not ""
  expect_true(all(is.na(meta$CASSIA_mixed_celltypes[group == "10"])))
  # the combined label
  expect_true(all(meta$CASSIA_label[group == "10"] == "B cell / naive B cell"))
  expect_true(all(meta$CASSIA_label[group == "1"] == "T cell"))
  expect_type(meta$CASSIA_score, "double")
  # cells keep their identity and order
  expect_identical(rownames(meta), colnames(object))
})

test_that("clusters come from Idents() by default and the run is recorded in Misc() and Tool()", {
  require_package("SeuratObject")
  object <- pbmc()
  ids <- levels(SeuratObject::Idents(object))
  results <- data.frame(`Cluster ID` = ids, `Predicted General Cell Type` = paste("type", ids),
                        check.names = FALSE)
  attr(results, "run_dir") <- "/tmp/some-run"
  attr(results, "manifest") <- list(versions = list(cassia = "9.9.9"), settings = list(tissue = "blood"))
  out <- add_cassia_to_seurat(object, results, prefix = "cas_")
  expect_false(anyNA(out$cas_general_celltype))  # every cell labelled
  expect_identical(unname(out$cas_general_celltype), paste("type", as.character(SeuratObject::Idents(object))))
  expect_true(all(is.na(out$cas_score)))  # missing columns become NA columns

  record <- SeuratObject::Tool(out, slot = "CASSIA")
  expect_identical(record$run_dir, "/tmp/some-run")
  expect_identical(record$engine_version, "9.9.9")
  expect_identical(record$settings$tissue, "blood")
  expect_identical(record$cluster_col, "Idents")
  expect_identical(record$columns[[1]], "cas_general_celltype")
  expect_identical(record$clusters_annotated, sort(ids))
  expect_match(record$date, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T")

  twice <- add_cassia_to_seurat(out, results)
  expect_length(SeuratObject::Misc(twice, slot = "CASSIA"), 2L)
})

test_that("add_cassia_to_seurat refuses wrong inputs with a clear message", {
  require_package("SeuratObject")
  object <- pbmc_with_groups()
  expect_error(add_cassia_to_seurat(data.frame(a = 1), hand_results()), "must be a Seurat object",
               class = "cassia_InputError")
  expect_error(add_cassia_to_seurat(object, hand_results(), cluster_col = "no_such_column"),
               "is not a metadata column", class = "cassia_InputError")
  expect_error(add_cassia_to_seurat(object, hand_results()[, "Score", drop = FALSE]),
               "lacks the column\\(s\\) \"Cluster ID\"", class = "cassia_InputError")
  other <- hand_results()
  other[["Cluster ID"]] <- c("7", "8")
  expect_error(add_cassia_to_seurat(object, other), "None of the clusters in `results` \\(7, 8\\)",
               class = "cassia_InputError")
  twice <- rbind(hand_results(), hand_results()[2, ])
  expect_error(suppressWarnings(add_cassia_to_seurat(object, twice, cluster_col = "cassia_test_group")),
               "more than one row for cluster\\(s\\) \"1\"", class = "cassia_InputError")
  expect_error(add_cassia_to_seurat(object, tempfile("no-run-")), "No summary.csv", class = "cassia_InputError")
  expect_error(add_cassia_to_seurat(object, 42), "must be the data frame", class = "cassia_InputError")
})

test_that("a run directory can be given instead of the results data frame", {
  require_engine()
  object <- pbmc()
  res <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = run_dir(), progress = FALSE)
  from_dir <- add_cassia_to_seurat(object, cassia_run_dir(res))
  from_frame <- add_cassia_to_seurat(object, res)
  expect_identical(from_dir$CASSIA_general_celltype, from_frame$CASSIA_general_celltype)
  expect_false(anyNA(from_dir$CASSIA_general_celltype))
  expect_identical(SeuratObject::Tool(from_dir, slot = "CASSIA")$engine_version,
                   attr(res, "manifest")$versions$cassia)
})

test_that("annotate_clusters() is the one-call Seurat path: object in, annotated object out", {
  require_engine()
  require_package("Seurat")
  object <- pbmc()
  out <- annotate_clusters(object, tissue = "peripheral blood", species = "human", provider = "offline",
                           out_dir = run_dir(), progress = FALSE)
  expect_s4_class(out, "Seurat")
  expect_identical(colnames(out), colnames(object))
  expect_false(anyNA(out$CASSIA_general_celltype))
  expect_false(anyNA(out$CASSIA_score))
  expect_true(all(c("CASSIA_detailed_celltype", "CASSIA_label", "CASSIA_cell_ontology_id") %in% names(out[[]])))
  record <- SeuratObject::Misc(out, slot = "CASSIA")[[1]]
  expect_true(file.exists(file.path(record$run_dir, "report.html")))
  expect_s3_class(record$markers, "data.frame")
  expect_true(all(record$markers$avg_log2FC > 0))  # only.pos = TRUE
  expect_identical(record$settings$tissue, "peripheral blood")
})

test_that("the Seurat path works against an OpenAI-compatible server and with a metadata column", {
  url <- fake_server_url()
  require_package("Seurat")
  object <- pbmc()
  object$cell_group <- paste("group", as.character(SeuratObject::Idents(object)))
  SeuratObject::Idents(object) <- "one identity for all"  # proves cluster_col, not Idents(), is used
  out <- annotate_clusters(object, provider = url, cluster_col = "cell_group", out_dir = run_dir(),
                           progress = FALSE, use_cache = FALSE, prefix = "fake_")
  expect_false(anyNA(out$fake_general_celltype))
  expect_identical(levels(SeuratObject::Idents(out)), "one identity for all")  # the object's Idents are kept
  record <- SeuratObject::Tool(out, slot = "CASSIA")
  expect_identical(record$cluster_col, "cell_group")
  expect_setequal(record$clusters_annotated, c("group 0", "group 1", "group 2"))
  expect_match(record$providers$annotator$base_url, "^http://127\\.0\\.0\\.1")
})

test_that("runCASSIA_pipeline accepts a Seurat object and returns the markers it computed", {
  require_engine()
  require_package("Seurat")
  res <- runCASSIA_pipeline(pbmc(), provider = "offline", out_dir = run_dir(), progress = FALSE,
                            find_markers_args = list(logfc.threshold = 0.5))
  expect_setequal(res[["Cluster ID"]], c("0", "1", "2"))
  markers <- attr(res, "markers")
  expect_true(all(c("gene", "cluster", "avg_log2FC") %in% names(markers)))
  expect_true(all(markers$avg_log2FC >= 0.5))
  expect_type(markers$cluster, "character")
})

test_that("Seurat inputs are checked before markers are computed or a model is called", {
  require_engine()
  require_package("Seurat")
  object <- pbmc()
  expect_error(annotate_clusters(object, provider = dead_url(), clusters = c("1", "7")),
               "\"7\" do not exist in the Seurat object", class = "cassia_InputError")
  expect_error(annotate_clusters(object, provider = dead_url(), cluster_col = "nope"),
               "is not a metadata column", class = "cassia_InputError")
  expect_error(annotate_clusters(list(), provider = dead_url()), "needs a Seurat object", class = "cassia_InputError")
  expect_error(annotate_clusters(object, markers = loadExampleMarkers()), "computes the markers",
               class = "cassia_InputError")
  expect_error(runCASSIA_batch(loadExampleMarkers(), cluster_col = "groups"), "only when `markers` is a Seurat",
               class = "cassia_InputError")
})

test_that("annotate_clusters() on a data frame returns the pipeline summary", {
  require_engine()
  res <- annotate_clusters(loadExampleMarkers(), provider = "offline", out_dir = run_dir(), progress = FALSE)
  expect_s3_class(res, "data.frame")
  expect_setequal(res[["Cluster ID"]], c("0", "1", "2"))
})

test_that("zero-padded and spaced cluster names are matched when unambiguous, and said", {
  require_package("SeuratObject")
  object <- pbmc()
  ids <- as.character(SeuratObject::Idents(object))
  object$padded <- sprintf("%02d", as.integer(ids))  # "00", "01", "02"
  object$spaced <- paste0(" ", ids, " ")
  results <- data.frame(`Cluster ID` = c("0", "1", "2"), `Predicted General Cell Type` = c("T cell", "monocyte", "B cell"),
                        check.names = FALSE)
  expect_message(padded <- add_cassia_to_seurat(object, results, cluster_col = "padded"),
                 "\"01\" = \"1\"", fixed = TRUE)
  expect_identical(unname(padded$CASSIA_general_celltype), c("T cell", "monocyte", "B cell")[as.integer(ids) + 1L])
  expect_message(spaced <- add_cassia_to_seurat(object, results, cluster_col = "spaced"), "without zero-padding or spaces")
  expect_identical(unname(spaced$CASSIA_general_celltype), unname(padded$CASSIA_general_celltype))
  expect_identical(SeuratObject::Tool(padded, slot = "CASSIA")$clusters_matched_loosely[["01"]], "1")

  # ambiguous: "1" and "01" both exist in the object; only the exact "1" takes cluster 1's labels
  object$mixed <- ifelse(ids == "2", "01", ids)
  expect_warning(
    mixed <- suppressMessages(add_cassia_to_seurat(object, results[1:2, ], cluster_col = "mixed")),
    "cluster \"01\"", class = "cassia_unlabelled_cells"
  )
  expect_true(all(is.na(mixed$CASSIA_general_celltype[object$mixed == "01"])))
  expect_true(all(mixed$CASSIA_general_celltype[object$mixed == "1"] == "monocyte"))
})

test_that("failed clusters never overwrite earlier labels with NA, and the cells are counted in a warning", {
  require_package("SeuratObject")
  object <- pbmc()
  ids <- as.character(SeuratObject::Idents(object))
  first <- data.frame(`Cluster ID` = c("0", "1", "2"), `Predicted General Cell Type` = c("T cell", "monocyte", "B cell"),
                      Score = c(80, 70, 90), check.names = FALSE)
  labelled <- add_cassia_to_seurat(object, first)
  rerun <- data.frame(`Cluster ID` = c("0", "1", "2"), `Predicted General Cell Type` = c("NK cell", NA, NA),
                      Score = c(60, NA, NA), Status = c("ok", "failed", "failed"),
                      Error = c(NA, "TransientProviderError: connection refused", "AuthError: invalid key"),
                      check.names = FALSE)
  warned <- tryCatch(add_cassia_to_seurat(labelled, rerun), warning = function(w) w)
  expect_s3_class(warned, "cassia_unlabelled_cells")
  text <- conditionMessage(warned)
  n1 <- sum(ids == "1")
  expect_match(text, paste0("cluster \"1\" (", n1, " cells): its annotation failed: TransientProviderError: ",
                            "connection refused; ", n1, " kept their earlier labels"), fixed = TRUE)
  expect_match(text, "AuthError: invalid key", fixed = TRUE)
  out <- suppressWarnings(add_cassia_to_seurat(labelled, rerun))
  expect_true(all(out$CASSIA_general_celltype[ids == "0"] == "NK cell"))
  expect_true(all(out$CASSIA_general_celltype[ids == "1"] == "monocyte"))  # kept, not NA
  expect_true(all(out$CASSIA_general_celltype[ids == "2"] == "B cell"))
  expect_true(all(out$CASSIA_score[ids == "2"] == 90))
  record <- SeuratObject::Tool(out, slot = "CASSIA")
  expect_identical(record$clusters_failed, c("1", "2"))
  expect_identical(record$clusters_annotated, "0")
})

test_that("annotate_clusters() with an unreachable provider is an error and leaves the object as it was", {
  require_engine()
  require_package("Seurat")
  object <- pbmc()
  results <- data.frame(`Cluster ID` = c("0", "1", "2"), `Predicted General Cell Type` = c("T cell", "monocyte", "B cell"),
                        check.names = FALSE)
  labelled <- add_cassia_to_seurat(object, results)
  before <- table(labelled$CASSIA_general_celltype, useNA = "ifany")
  after <- labelled
  err <- tryCatch(after <- annotate_clusters(labelled, provider = dead_url(), out_dir = run_dir(), progress = FALSE),
                  error = function(e) e)
  expect_s3_class(err, "cassia_run_failed")
  expect_match(conditionMessage(err), "The Seurat object was not changed.", fixed = TRUE)
  expect_identical(table(after$CASSIA_general_celltype, useNA = "ifany"), before)
})

test_that("annotate_clusters() with one failing cluster warns, and that cluster keeps its labels", {
  require_package("Seurat")
  url <- failing_server_url()
  object <- pbmc()
  markers <- loadExampleMarkers()
  # the example markers are pbmc_small's own: cluster 2 is the one the failing server refuses
  previous <- data.frame(`Cluster ID` = c("0", "1", "2"), `Predicted General Cell Type` = c("old T", "old mono", "old B"),
                         check.names = FALSE)
  labelled <- add_cassia_to_seurat(object, previous)
  res <- suppressWarnings(runCASSIA_batch(markers, provider = url, out_dir = run_dir(), progress = FALSE))
  expect_warning(out <- add_cassia_to_seurat(labelled, res), "its annotation failed", class = "cassia_unlabelled_cells")
  ids <- as.character(SeuratObject::Idents(object))
  expect_true(all(out$CASSIA_general_celltype[ids == "2"] == "old B"))
  expect_false(any(out$CASSIA_general_celltype[ids != "2"] %in% c("old T", "old mono", NA)))
})
