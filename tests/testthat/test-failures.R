# Failure is loud and labels are safe: unreachable providers, partly failed runs, resuming, and
# the print method that shows them.

test_that("a run where every cluster fails is an error naming the clusters, the reason and how to resume", {
  require_engine()
  out <- run_dir()
  err <- tryCatch(runCASSIA_batch(loadExampleMarkers(), provider = dead_url(), out_dir = out, progress = FALSE),
                  error = function(e) e)
  expect_s3_class(err, "cassia_run_failed")
  expect_match(conditionMessage(err), "Every cluster failed (\"0\", \"1\", \"2\")", fixed = TRUE)
  expect_match(conditionMessage(err), "connection", ignore.case = TRUE)
  expect_match(conditionMessage(err), "resume = TRUE", fixed = TRUE)
  expect_false(grepl("resume=True", conditionMessage(err), fixed = TRUE))
  # the failed result is still reachable for inspection
  expect_identical(unique(err$result$Status), "failed")
  expect_identical(cassia_run_dir(err$result), out)
})

test_that("a partly failed run warns with the failed cluster and its reason, and resume finishes it", {
  out <- run_dir()
  expect_warning(
    res <- runCASSIA_batch(loadExampleMarkers(), provider = failing_server_url(), out_dir = out, progress = FALSE),
    class = "cassia_partial_failure"
  )
  expect_identical(res$Status[res$`Cluster ID` == "2"], "failed")
  expect_identical(res$Status[res$`Cluster ID` != "2"], c("ok", "ok"))
  # rows come in the input's cluster order, whatever order the clusters finished in
  expect_identical(res$`Cluster ID`, c("0", "1", "2"))
  warning_text <- tryCatch(
    runCASSIA_batch(loadExampleMarkers(), provider = failing_server_url(), out_dir = run_dir(), progress = FALSE),
    warning = function(w) conditionMessage(w)
  )
  expect_match(warning_text, "1 of 3 clusters failed (\"2\")", fixed = TRUE)
  expect_match(warning_text, "400|failed on purpose")

  printed <- paste(capture.output(print(res)), collapse = "\n")
  expect_match(printed, "3 clusters: 2 annotated, 1 failed", fixed = TRUE)
  expect_match(printed, "Failed: 2 (", fixed = TRUE)
  expect_match(printed, paste0("Run: ", out), fixed = TRUE)

  # Resuming with a working server annotates only the failed cluster.
  resumed <- runCASSIA_batch(loadExampleMarkers(), provider = fake_server_url(), out_dir = out, resume = TRUE,
                             progress = FALSE)
  expect_identical(resumed$Status, c("ok", "ok", "ok"))
  expect_identical(resumed$`Predicted General Cell Type`[1:2], res$`Predicted General Cell Type`[1:2])
})

test_that("the print and summary methods show clusters, types, scores, failures and where the run is", {
  require_engine()
  out <- run_dir()
  res <- runCASSIA_pipeline(loadExampleMarkers(), tissue = "peripheral blood", provider = "offline", out_dir = out,
                            progress = FALSE)
  expect_s3_class(res, "cassia_result")
  expect_s3_class(res, "data.frame")
  printed <- capture.output(print(res))
  expect_match(printed[[1]], "<CASSIA pipeline result> 3 clusters: 3 annotated", fixed = TRUE)
  expect_true(any(grepl(paste0("Report: ", file.path(out, "report.html")), printed, fixed = TRUE)))
  for (type in res$`Predicted General Cell Type`) expect_true(any(grepl(type, printed, fixed = TRUE)))
  # one line per cluster, not the 21 raw columns
  expect_false(any(grepl("Scoring Reasoning", printed, fixed = TRUE)))

  info <- summary(res)
  expect_s3_class(info, "summary.cassia_result")
  expect_identical(info$clusters, 3L)
  expect_identical(sum(info$types), 3L)
  expect_equal(unname(info$scores[["50%"]]), stats::median(res$Score))
  expect_match(paste(capture.output(print(info)), collapse = "\n"), "Scores: min", fixed = TRUE)

  plain <- as.data.frame(res)
  expect_identical(class(plain), "data.frame")
  expect_identical(names(plain), summary_columns)
})

test_that("a step that failed after annotation (scoring) is said, and the annotation kept", {
  res <- structure(data.frame(`Cluster ID` = c("0", "1"), `Predicted General Cell Type` = c("T cell", "B cell"),
                              Status = c("ok", "ok"), Error = c(NA, "scoring failed: timed out"),
                              check.names = FALSE), class = c("cassia_result", "data.frame"))
  expect_warning(out <- CASSIA:::check_failures(res, "runCASSIA_score_batch"),
                 "1 annotated cluster(s) have a failed step (\"1\"): scoring failed: timed out", fixed = TRUE,
                 class = "cassia_step_failure")
  expect_identical(out, res)
})

test_that("print names unvalidated clusters as not to be taken at face value", {
  res <- structure(data.frame(
    `Cluster ID` = c("0", "1", "2"), `Predicted General Cell Type` = c("T cell", "B cell", NA),
    `Predicted Detailed Cell Type` = c("CD4 T cell", NA, NA), Score = c(88, 40, NA),
    Status = c("ok", "unvalidated", "failed"), Error = c(NA, NA, "connection refused"),
    check.names = FALSE, stringsAsFactors = FALSE), class = c("cassia_result", "data.frame"))
  printed <- paste(capture.output(print(res)), collapse = "\n")
  expect_match(printed, "Failed: 2 (", fixed = TRUE)
  expect_match(printed, "Unvalidated (never passed the Validator; not to be taken at face value): 1", fixed = TRUE)
})
