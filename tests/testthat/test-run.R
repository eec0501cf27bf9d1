test_that("runCASSIA_batch annotates every cluster of a data frame with the offline annotator", {
  require_engine()
  markers <- loadExampleMarkers()
  out <- run_dir()
  res <- runCASSIA_batch(markers, tissue = "peripheral blood", species = "human", provider = "offline",
                         out_dir = out, progress = FALSE)
  expect_s3_class(res, "data.frame")
  expect_identical(names(res), summary_columns)
  expect_setequal(res[["Cluster ID"]], c("0", "1", "2"))
  expect_type(res[["Cluster ID"]], "character")
  expect_type(res[["Marker Number"]], "integer")
  expect_type(res$Iterations, "integer")
  expect_type(res$Score, "double")
  expect_type(res$Validated, "logical")
  expect_true(all(is.na(res$Score)))  # batch does not score
  expect_true(all(nzchar(res[["Predicted General Cell Type"]])))
  expect_identical(normalizePath(cassia_run_dir(res)), normalizePath(out))
  expect_true(file.exists(file.path(out, "summary.csv")))
  expect_identical(attr(res, "manifest")$kind, "batch")
  # the marker table the user passed is untouched
  expect_identical(markers, loadExampleMarkers())
})

test_that("runCASSIA_pipeline scores every cluster and writes the report; a path works as input", {
  require_engine()
  out <- run_dir()
  path <- system.file("extdata", "pbmc_small_markers.csv", package = "CASSIA")
  res <- runCASSIA_pipeline(path, tissue = "peripheral blood", provider = "offline", out_dir = out,
                            progress = FALSE)
  expect_setequal(res[["Cluster ID"]], c("0", "1", "2"))
  expect_false(anyNA(res$Score))
  expect_true(all(res$Score >= 0 & res$Score <= 100))
  expect_true(file.exists(file.path(out, "report.html")))
  expect_identical(attr(res, "manifest")$kind, "pipeline")
})

test_that("runCASSIA_batch and runCASSIA_pipeline talk to an OpenAI-compatible server by URL", {
  url <- fake_server_url()
  out <- run_dir()
  res <- runCASSIA_pipeline(loadExampleMarkers(), tissue = "peripheral blood", provider = url, out_dir = out,
                            progress = FALSE, use_cache = FALSE)
  expect_setequal(res[["Cluster ID"]], c("0", "1", "2"))
  expect_true(all(res$Status == "ok"), info = paste(res$Error, collapse = "; "))
  expect_false(anyNA(res$Score))
  expect_true(all(res$Tokens > 0))  # the server reports usage, and the engine counted it
  expect_true(file.exists(file.path(out, "transcripts")))

  one <- runCASSIA_batch(loadExampleMarkers(), provider = url, out_dir = run_dir(), clusters = "2",
                         progress = FALSE, use_cache = FALSE)
  expect_identical(one[["Cluster ID"]], "2")
})

test_that("runCASSIA_score_batch scores an unscored run, given its directory or its result", {
  require_engine()
  batch <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = run_dir(), progress = FALSE)
  expect_true(all(is.na(batch$Score)))
  scored <- runCASSIA_score_batch(batch, provider = "offline", progress = FALSE)
  expect_setequal(scored[["Cluster ID"]], c("0", "1", "2"))
  expect_false(anyNA(scored$Score))
  expect_identical(cassia_run_dir(scored), cassia_run_dir(batch))

  url <- fake_server_url()
  batch2 <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = run_dir(), progress = FALSE)
  rescored <- runCASSIA_score_batch(cassia_run_dir(batch2), provider = url, progress = FALSE, use_cache = FALSE)
  expect_false(anyNA(rescored$Score))
})

test_that("bad marker tables are refused before any model call", {
  require_engine()
  # dead_url(): had the engine called the model, the error would be a connection error.
  no_gene <- data.frame(cluster = c("0", "1"), avg_log2FC = c(1, 2), p_val_adj = c(0.001, 0.001))
  expect_error(runCASSIA_batch(no_gene, provider = dead_url(), out_dir = run_dir(), progress = FALSE),
               "gene", class = "cassia_InputError")
  no_cluster <- data.frame(gene = c("CD3D", "MS4A1"), avg_log2FC = c(1, 2), p_val_adj = c(0.001, 0.001))
  expect_error(runCASSIA_batch(no_cluster, provider = dead_url(), out_dir = run_dir(), progress = FALSE),
               "cluster", class = "cassia_InputError")
  expect_error(runCASSIA_batch(loadExampleMarkers()[0, ], provider = dead_url()), "empty",
               class = "cassia_InputError")
  expect_error(runCASSIA_batch("no/such/markers.csv", provider = dead_url()), "not found",
               class = "cassia_InputError")
  expect_error(runCASSIA_batch(list(a = 1), provider = dead_url()), "must be a FindAllMarkers data frame",
               class = "cassia_InputError")
  expect_error(runCASSIA_batch(loadExampleMarkers(), provider = dead_url(), clusters = "99", out_dir = run_dir(),
                               progress = FALSE), "99", class = "cassia_InputError")
})

test_that("bad arguments are refused with the engine's or R's message, not a traceback", {
  require_engine()
  expect_error(runCASSIA_batch(loadExampleMarkers(), provider = "offline", tissue = c("a", "b")),
               "`tissue` must be a single value", class = "cassia_InputError")
  expect_error(runCASSIA_batch(loadExampleMarkers(), provider = "offline", tissue = NA),
               "`tissue` is NA", class = "cassia_InputError")
  err <- tryCatch(runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = run_dir(),
                                  progress = FALSE, no_such_option = 1),
                  error = function(e) e)
  expect_s3_class(err, "cassia_error")
  expect_match(conditionMessage(err), "no_such_option")
  expect_false(grepl("Traceback", conditionMessage(err)))
  expect_error(runCASSIA_batch(loadExampleMarkers(), provider = "no-such-vendor", out_dir = run_dir(),
                               progress = FALSE), "unknown provider 'no-such-vendor'", class = "cassia_ConfigError")
  expect_error(runCASSIA_score_batch(tempfile("missing-run-")), "Run directory not found",
               class = "cassia_InputError")
  expect_error(cassia_run_dir(data.frame()), "carries no run directory", class = "cassia_InputError")
})

test_that("a rerun with resume = TRUE keeps finished clusters", {
  require_engine()
  out <- run_dir()
  first <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = out, progress = FALSE)
  expect_error(runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = out, progress = FALSE),
               "already holds a run", class = "cassia_InputError")
  again <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = out, progress = FALSE,
                           resume = TRUE)
  expect_identical(again[["Predicted General Cell Type"]], first[["Predicted General Cell Type"]])
})

test_that("estimate_cost = TRUE returns the expected calls, tokens and dollars and sends nothing", {
  require_engine()
  out <- run_dir()
  est <- runCASSIA_pipeline(loadExampleMarkers(), tissue = "peripheral blood", provider = "openai",
                            model = "gpt-4.1", out_dir = out, estimate_cost = TRUE)  # no key needed
  expect_s3_class(est, "cassia_cost_estimate")
  expect_identical(est$stage, c("annotator", "review", "scorer"))
  expect_identical(est$model, c("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-mini"))  # review and scoring: the cheaper sibling
  expect_identical(est$calls, rep(3L, 3))
  expect_true(all(est$cost_usd > 0) && all(est$input_tokens > 0))
  expect_equal(attr(est, "totals")$calls, 9L)
  expect_false(dir.exists(out))  # nothing was run or written
  expect_output(print(est), "Estimated cost of 3 cluster")
  one <- runCASSIA_batch(loadExampleMarkers(), provider = "openai", model = "gpt-4.1", estimate_cost = TRUE,
                         stage_models = FALSE)
  expect_identical(one$model, c("gpt-4.1", "gpt-4.1"))
})
