# Marker filters are arguments of every R verb that reads markers, with the engine's defaults,
# and their errors name them the way R spells them.

test_that("filter arguments change which markers are sent, and NULL turns a filter off", {
  require_engine()
  markers <- loadExampleMarkers()
  default <- runCASSIA_batch(markers, provider = "offline", out_dir = run_dir(), progress = FALSE)
  # every gene of the table, none filtered away (n_genes large enough)
  open <- runCASSIA_batch(markers, provider = "offline", out_dir = run_dir(), progress = FALSE, n_genes = 1000,
                          max_p_val_adj = NULL, min_log2fc = NULL, min_pct1 = NULL)
  expect_identical(open$`Marker Number`, as.integer(table(markers$cluster)[open$`Cluster ID`]))
  strict <- runCASSIA_batch(markers, provider = "offline", out_dir = run_dir(), progress = FALSE,
                            min_log2fc = 2)
  for (i in seq_len(nrow(strict))) {
    genes <- strsplit(strict$`Marker List`[[i]], ", ", fixed = TRUE)[[1]]
    lfc <- markers$avg_log2FC[markers$cluster == strict$`Cluster ID`[[i]] & markers$gene %in% genes]
    expect_true(all(lfc > 2))
  }
  expect_true(all(strict$`Marker Number` <= default$`Marker Number`))
  expect_true(any(strict$`Marker Number` < default$`Marker Number`))
})

test_that("a filter that empties clusters is an error naming the R argument, before any model call", {
  require_engine()
  err <- tryCatch(runCASSIA_pipeline(loadExampleMarkers(), provider = dead_url(), out_dir = run_dir(),
                                     progress = FALSE, max_p_val_adj = 1e-300),
                  error = function(e) e)
  expect_s3_class(err, "cassia_InputError")
  expect_match(conditionMessage(err), "raise max_p_val_adj (the best p_val_adj here is", fixed = TRUE)
  expect_match(conditionMessage(err), "max_p_val_adj = NULL turns a filter off", fixed = TRUE)
  expect_false(grepl("--max-p-adj|max_p_val_adj=None", conditionMessage(err)))
})

test_that("filter arguments are checked in R and unknown arguments list the valid ones", {
  require_engine()
  err <- tryCatch(runCASSIA_batch(loadExampleMarkers(), provider = "offline", min_pct1 = "high"),
                  error = function(e) e)
  expect_s3_class(err, "cassia_InputError")
  expect_match(conditionMessage(err), "`min_pct1` must be a single number, or NULL", fixed = TRUE)

  err <- tryCatch(runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = run_dir(), progress = FALSE,
                                  max_pval = 0.1),
                  error = function(e) e)
  expect_s3_class(err, "cassia_InputError")
  expect_match(conditionMessage(err), "max_pval is not an argument of runCASSIA_batch()", fixed = TRUE)
  expect_match(conditionMessage(err), "max_p_val_adj, min_log2fc, min_pct1", fixed = TRUE)
})

test_that("every R verb that reads markers has the filter arguments with the engine's defaults", {
  verbs <- list(runCASSIA_batch, runCASSIA_pipeline, runCASSIA_batch_n_times, runCASSIA_uncertainty,
                runCASSIA_subclusters, runCASSIA_annotationboost)
  for (verb in verbs) {
    args <- formals(verb)
    expect_identical(args$max_p_val_adj, 0.05)
    expect_identical(args$min_log2fc, 0.25)
    expect_identical(args$min_pct1, 0.1)
  }
})

test_that("subclusters and uncertainty pass the filters on", {
  require_engine()
  err <- tryCatch(runCASSIA_subclusters(loadExampleMarkers(), major_cluster_info = "PBMC", provider = dead_url(),
                                        out_dir = run_dir(), progress = FALSE, min_log2fc = 100),
                  error = function(e) e)
  expect_s3_class(err, "cassia_InputError")
  expect_match(conditionMessage(err), "lower min_log2fc", fixed = TRUE)
  err <- tryCatch(runCASSIA_uncertainty(loadExampleMarkers(), n = 2, provider = dead_url(), out_dir = run_dir(),
                                        progress = FALSE, min_pct1 = 2),
                  error = function(e) e)
  expect_s3_class(err, "cassia_InputError")
  expect_match(conditionMessage(err), "lower min_pct1", fixed = TRUE)
})
