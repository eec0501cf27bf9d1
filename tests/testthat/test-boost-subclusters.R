test_that("runCASSIA_annotationboost boosts one cluster of an earlier run, in that run", {
  url <- fake_server_url()
  markers <- loadExampleMarkers()
  first <- runCASSIA_batch(markers, provider = "offline", out_dir = run_dir(), progress = FALSE)
  boosted <- runCASSIA_annotationboost(markers, cluster = "0", run_dir = first, provider = url,
                                       use_cache = FALSE, progress = FALSE)
  expect_s3_class(boosted, "data.frame")
  expect_identical(boosted[["Cluster ID"]], "0")
  expect_identical(names(boosted), summary_columns)
  expect_identical(cassia_run_dir(boosted), cassia_run_dir(first))
  boost <- attr(boosted, "boost")
  expect_identical(boost$status, "ok")
  expect_type(boost$converged, "logical")
  expect_s3_class(boost$hypotheses, "data.frame")
  expect_true(all(c("round", "hypothesis", "verdict") %in% names(boost$hypotheses)))
  expect_s3_class(boost$genes_checked, "data.frame")
  expect_true(boosted$Boosted)
  # the run's summary now carries the boosted cluster (pandas writes booleans as True/False)
  again <- utils::read.csv(file.path(cassia_run_dir(first), "summary.csv"), check.names = FALSE,
                           colClasses = c(`Cluster ID` = "character"))
  expect_identical(again$Boosted[again[["Cluster ID"]] == "0"], "True")

  # the fake server's conclusion cites CD3E and CD3D: cluster "1" (monocytes) has neither, so its
  # boost fails the code's gene checks, visibly, and the first annotation stays
  expect_warning(
    monocytes <- runCASSIA_annotationboost(markers, cluster = "1", run_dir = first, provider = url,
                                           use_cache = FALSE, progress = FALSE),
    "did not pass the code's checks")
  expect_identical(attr(monocytes, "boost")$status, "failed")
  expect_match(attr(monocytes, "boost")$error, "did not pass the code's checks")
  expect_false(monocytes$Boosted)
  expect_identical(monocytes[["Predicted General Cell Type"]],
                   first[["Predicted General Cell Type"]][first[["Cluster ID"]] == "1"])
})

test_that("runCASSIA_annotationboost refuses what cannot work, before any model call", {
  require_engine()
  markers <- loadExampleMarkers()
  expect_error(runCASSIA_annotationboost(markers, provider = dead_url()), "`cluster` must name",
               class = "cassia_InputError")
  expect_error(runCASSIA_annotationboost(markers, cluster = "0", run_dir = tempfile("none-"), provider = dead_url()),
               "Run directory not found", class = "cassia_InputError")
  expect_error(runCASSIA_annotationboost(markers, cluster = "0", provider = "offline", out_dir = run_dir()),
               "needs a language model", class = "cassia_ConfigError")
})

test_that("runCASSIA_subclusters annotates subclusters together and scores them", {
  url <- fake_server_url()
  # The fake server's canned reply names only subcluster 0: the others fail, loudly.
  expect_warning(
    res <- runCASSIA_subclusters(loadExampleMarkers(), major_cluster_info = "human PBMC", provider = url,
                                 out_dir = run_dir(), progress = FALSE, use_cache = FALSE),
    "2 of 3 clusters failed", class = "cassia_partial_failure"
  )
  expect_identical(names(res)[1:3], c("Cluster ID", "Main Cell Type", "Sub Cell Type"))
  expect_setequal(res[["Cluster ID"]], c("0", "1", "2"))
  expect_type(res$Group, "integer")
  expect_type(res$Score, "double")
  expect_true(file.exists(file.path(cassia_run_dir(res), "summary.csv")))
  expect_error(runCASSIA_subclusters(loadExampleMarkers(), major_cluster_info = " ", provider = dead_url()),
               "must describe the parent population", class = "cassia_InputError")
})
