# Uncertainty (n runs, CS scores), consensus and merging, through the R wrappers.

# A summary table that disagrees with the offline annotator on cluster "0" (NK instead of a
# CD8 T cell), in the columns a summary.csv read into R has.
disagreeing_summary <- function() {
  data.frame(
    `Cluster ID` = c("0", "1", "2"),
    `Predicted General Cell Type` = c("natural killer cell", "monocyte", "B cell"),
    `Predicted Detailed Cell Type` = c("natural killer cell", "classical monocyte", "naive B cell"),
    check.names = FALSE, stringsAsFactors = FALSE
  )
}

offline_runs <- local({
  runs <- NULL
  function() {
    require_engine()
    if (is.null(runs)) {
      runs <<- runCASSIA_batch_n_times(loadExampleMarkers(), n = 2, tissue = "peripheral blood",
                                       provider = "offline", out_dir = run_dir(), progress = FALSE)
    }
    runs
  }
})

test_that("runCASSIA_batch_n_times returns one summary per run, each in its own folder", {
  runs <- offline_runs()
  expect_type(runs, "list")
  expect_identical(names(runs), c("run-1", "run-2"))
  for (run in runs) {
    expect_s3_class(run, "data.frame")
    expect_identical(names(run), summary_columns)
    expect_setequal(run[["Cluster ID"]], c("0", "1", "2"))
    expect_true(file.exists(file.path(cassia_run_dir(run), "summary.csv")))
    expect_identical(attr(run, "manifest")$kind, "batch")
  }
  expect_identical(basename(vapply(runs, cassia_run_dir, "")), c("run-1", "run-2"))
  expect_identical(dirname(cassia_run_dir(runs[[1]])), dirname(cassia_run_dir(runs[[2]])))
  # the offline annotator is deterministic: both runs agree
  expect_identical(runs[[1]][["Predicted General Cell Type"]], runs[[2]][["Predicted General Cell Type"]])
})

test_that("runCASSIA_batch_n_times sends every run to a server, and refuses bad n before any call", {
  url <- fake_server_url()
  runs <- runCASSIA_batch_n_times(loadExampleMarkers(), n = 2, provider = url, out_dir = run_dir(),
                                  clusters = c("0", "2"), progress = FALSE)
  expect_length(runs, 2L)
  for (run in runs) {
    expect_setequal(run[["Cluster ID"]], c("0", "2"))
    expect_true(all(run$Status == "ok"), info = paste(run$Error, collapse = "; "))
    expect_true(all(run$Tokens > 0))  # answered by the server, not the cache
  }
  expect_error(runCASSIA_batch_n_times(loadExampleMarkers(), n = 0, provider = dead_url(), out_dir = run_dir(),
                                       progress = FALSE), "n must be a whole number", class = "cassia_InputError")
  expect_error(runCASSIA_batch_n_times(loadExampleMarkers(), n = 2, provider = dead_url(), use_cache = TRUE,
                                       out_dir = run_dir(), progress = FALSE),
               "use_cache is not an argument", class = "cassia_InputError")
})

test_that("runCASSIA_similarity_score_batch scores agreement across runs offline (CS = CS_CL)", {
  runs <- offline_runs()
  out <- run_dir()
  cs <- runCASSIA_similarity_score_batch(runs, provider = "offline", out_dir = out, progress = FALSE)
  expect_s3_class(cs, "data.frame")
  expect_identical(names(cs)[1:4], c("Cluster ID", "Consensus General Type", "Consensus Subtype",
                                     "Consensus General CL ID"))
  expect_true(all(c("Run 1 General", "Run 2 Subtype") %in% names(cs)))
  expect_setequal(cs[["Cluster ID"]], c("0", "1", "2"))
  # the deterministic offline annotator repeats one answer word for word: that is not agreement
  expect_true(all(is.na(cs$CS)))
  expect_true(all(cs$Uncertain))
  expect_true(all(grepl("repeated word for word", cs$Notes)))
  expect_identical(cs$CS, cs$CS_CL)
  expect_type(cs$CS_LLM, "double")  # no agents offline: a typed column of NA
  expect_true(all(is.na(cs$CS_LLM)))
  expect_type(cs$Uncertain, "logical")
  expect_type(cs[["Runs Answered"]], "integer")
  expect_identical(normalizePath(cassia_run_dir(cs)), normalizePath(out))
  expect_true(file.exists(file.path(out, "uncertainty.csv")))
  expect_match(unlist(attr(cs, "manifest")$notes), "offline provider has no LLM")
  # a data frame result stands for its run directory: labels come from the folders
  expect_identical(vapply(attr(cs, "manifest")$runs, `[[`, "", "label"), c("run-1", "run-2"))

  # a third, disagreeing input (a plain data frame): two independent answers, which disagree on cluster 0
  mixed <- runCASSIA_similarity_score_batch(c(runs, list(disagreeing_summary())), agents = FALSE,
                                            labels = c("a", "b", "c"), progress = FALSE)
  zero <- mixed[mixed[["Cluster ID"]] == "0", ]
  expect_equal(zero$CS, 50)
  expect_identical(zero[["Runs Answered"]], 2L)
  expect_true(zero$Uncertain)
  expect_true(zero[["Recommend Boost"]])
  expect_false(any(mixed$Uncertain[mixed[["Cluster ID"]] != "0"]))
  expect_null(attr(mixed, "run_dir"))  # no out_dir: nothing written
})

test_that("runCASSIA_similarity_score_batch asks a server's unification and consensus agents", {
  url <- fake_server_url()
  runs <- offline_runs()
  cs <- runCASSIA_similarity_score_batch(c(runs, list(disagreeing_summary())), provider = url,
                                         use_cache = FALSE, progress = FALSE)
  expect_false(anyNA(cs$CS_agent))
  expect_false(anyNA(cs$CS_LLM))
  expect_equal(cs$CS, pmin(cs$CS_CL, cs$CS_LLM, cs$CS_agent))
  expect_true(all(nzchar(cs[["Agent Reasoning"]])))
  expect_gt(attr(cs, "manifest")$usage$input_tokens, 0)
})

test_that("runCASSIA_similarity_score_batch refuses runs it cannot read, before any model call", {
  require_engine()
  expect_error(runCASSIA_similarity_score_batch(tempfile("no-run-"), provider = dead_url()),
               "Run 1 not found", class = "cassia_InputError")
  expect_error(runCASSIA_similarity_score_batch(disagreeing_summary(), provider = dead_url()),
               "must list several runs", class = "cassia_InputError")
  expect_error(runCASSIA_similarity_score_batch(list(), provider = dead_url()), "`runs` is empty",
               class = "cassia_InputError")
  expect_error(runCASSIA_similarity_score_batch(list(42), provider = dead_url()), "Run 1 must be",
               class = "cassia_InputError")
  expect_error(runCASSIA_similarity_score_batch(list(data.frame(x = 1)), provider = dead_url(), progress = FALSE),
               "no 'Cluster ID' and 'Predicted General Cell Type' columns", class = "cassia_InputError")
  expect_error(runCASSIA_similarity_score_batch(offline_runs(), provider = dead_url(), weights = 1),
               "`weights` must be two numbers", class = "cassia_InputError")
  expect_error(runCASSIA_similarity_score_batch(offline_runs(), provider = dead_url(), threshold = 150,
                                                progress = FALSE),
               "threshold must be a number from 0 to 100", class = "cassia_InputError")
  expect_error(runCASSIA_similarity_score_batch(offline_runs(), provider = dead_url(), labels = "one",
                                                progress = FALSE),
               "got 1 labels for 2 runs", class = "cassia_InputError")
})

test_that("runCASSIA_uncertainty makes the runs and scores them in one call", {
  require_engine()
  # a deterministic backend, or a single run, can only agree with itself: refused before any run
  expect_error(runCASSIA_uncertainty(loadExampleMarkers(), n = 2, provider = "offline", out_dir = run_dir(),
                                     progress = FALSE), "deterministic", class = "cassia_ConfigError")
  expect_error(runCASSIA_uncertainty(loadExampleMarkers(), n = 1, provider = dead_url(), out_dir = run_dir(),
                                     progress = FALSE), "n >= 2", class = "cassia_ConfigError")

  url <- fake_server_url()
  out <- run_dir()
  cs <- runCASSIA_uncertainty(loadExampleMarkers(), n = 2, provider = url, out_dir = out, progress = FALSE)
  expect_setequal(cs[["Cluster ID"]], c("0", "1", "2"))
  # the fake server answers the same words whatever the seed: no CS, every cluster flagged, no agent asked
  expect_true(all(is.na(cs$CS)))
  expect_true(all(cs$Uncertain))
  expect_true(all(is.na(cs$CS_agent)))
  expect_true(all(grepl("repeated word for word", cs$Notes)))
  expect_identical(normalizePath(cassia_run_dir(cs)), normalizePath(out))
  expect_true(all(file.exists(file.path(out, c("uncertainty.csv", "uncertainty.html", "run-1", "run-2")))))
  runs <- attr(cs, "runs")
  expect_identical(names(runs), c("run-1", "run-2"))
  expect_identical(names(runs[[1]]), summary_columns)
  expect_true(all(runs[[2]]$Tokens > 0))  # run 2 was answered by the server, not replayed from a cache
  expect_identical(attr(cs, "manifest")$settings$n, 2L)

  # options are checked before the first run: a dead server is never reached
  expect_error(runCASSIA_uncertainty(loadExampleMarkers(), n = 2, provider = dead_url(), temperature = 5,
                                     out_dir = run_dir(), progress = FALSE),
               "temperature must be between 0 and 2", class = "cassia_InputError")
  expect_error(runCASSIA_uncertainty(loadExampleMarkers(), n = 2, provider = dead_url(), weights = c(-1, 1),
                                     out_dir = run_dir(), progress = FALSE),
               "general weight must be a number >= 0", class = "cassia_InputError")
})

test_that("merge_annotations adds broader groupings to a summary, keeping the data frame as it was", {
  runs <- offline_runs()
  res <- runs[[1]]
  merged <- merge_annotations(res, provider = "offline")
  expect_identical(names(merged), c(summary_columns, "Merged_Grouping_1", "Merged_Grouping_2",
                                    "Merged_Grouping_3", "Merge Notes"))
  expect_identical(merged[summary_columns], res[summary_columns])
  expect_identical(cassia_run_dir(merged), cassia_run_dir(res))
  by_cluster <- stats::setNames(merged$Merged_Grouping_1, merged[["Cluster ID"]])
  expect_identical(unname(by_cluster[c("0", "1", "2")]), c("T cell", "mononuclear phagocyte",
                                                           "lymphocyte of B lineage"))
  expect_identical(merged$Merged_Grouping_3, merged[["Predicted Detailed Cell Type"]])
  expect_true(all(is.na(merged[["Merge Notes"]])))

  # a run directory works too; two levels give two columns; rows filtered in R stay filtered
  from_dir <- merge_annotations(cassia_run_dir(res), provider = "offline", levels = c("broad", "fine"))
  expect_identical(names(from_dir), c(summary_columns, "Merged_Grouping_1", "Merged_Grouping_2", "Merge Notes"))
  expect_type(from_dir$Score, "double")
  expect_type(from_dir$Error, "character")
  one <- merge_annotations(res[res[["Cluster ID"]] == "2", ], provider = "offline",
                           column = "Predicted General Cell Type")
  expect_identical(nrow(one), 1L)
  expect_identical(one$Merged_Grouping_1, "lymphocyte of B lineage")
})

test_that("merge_annotations asks a server for groups and checks them against the ontology", {
  url <- fake_server_url()
  merged <- merge_annotations(disagreeing_summary(), provider = url, use_cache = FALSE)
  expect_identical(names(merged), c(names(disagreeing_summary()), "Merged_Grouping_1", "Merged_Grouping_2",
                                    "Merged_Grouping_3", "Merge Notes"))
  expect_false(anyNA(merged$Merged_Grouping_1))
  expect_false(anyNA(merged[["Merge Notes"]]))  # the model path says what it did with every row
})

test_that("merge_annotations refuses what it cannot group, before any model call", {
  require_engine()
  expect_error(merge_annotations(data.frame(x = 1:2), provider = dead_url()),
               "no 'Predicted Detailed Cell Type' or 'Predicted General Cell Type' column", class = "cassia_InputError")
  expect_error(merge_annotations(disagreeing_summary(), provider = dead_url(), column = "nope"),
               "column 'nope' is not in the table", class = "cassia_InputError")
  expect_error(merge_annotations(disagreeing_summary(), provider = dead_url(), levels = character(0)),
               "`levels` must name at least one", class = "cassia_InputError")
  expect_error(merge_annotations(disagreeing_summary()[0, ], provider = dead_url()), "has no rows",
               class = "cassia_InputError")
  expect_error(merge_annotations(tempfile("none-"), provider = dead_url()), "`results` not found",
               class = "cassia_InputError")
})

test_that("runCASSIA_consensus votes across runs and tables without any model", {
  runs <- offline_runs()
  cons <- runCASSIA_consensus(c(runs, list(disagreeing_summary())))
  expect_identical(names(cons)[1:7], c("Cluster ID", "Consensus General Type", "Consensus General CL ID", "Status",
                                       "Votes", "Majority Votes", "Agreement"))
  expect_identical(names(cons)[12:18], c("Left Out", "run-1 General", "run-1 Subtype", "run-2 General",
                                         "run-2 Subtype", "input-3 General", "input-3 Subtype"))
  # the offline annotator is deterministic: run-2 repeats run-1 word for word and is one vote, not two
  expect_true(all(cons[["Left Out"]] == "run-2: repeat of run-1"))
  expect_identical(cons[["run-2 General"]], cons[["run-1 General"]])
  zero <- cons[cons[["Cluster ID"]] == "0", ]
  expect_identical(zero[["Consensus General Type"]], "T cell")
  expect_identical(zero$Status, "conflict")
  expect_identical(zero$Votes, 2L)
  expect_identical(zero[["Majority Votes"]], 1L)
  expect_equal(zero$Agreement, 0.5)
  expect_identical(cons$Status[cons[["Cluster ID"]] != "0"], c("consensus", "consensus"))

  labelled <- runCASSIA_consensus(vapply(runs, cassia_run_dir, ""), labels = c("first", "second"))
  expect_true(all(c("first General", "second Subtype") %in% names(labelled)))
  expect_true(all(labelled$Status == "single vote"))
})

test_that("runCASSIA_consensus combines runs a server answered, and refuses bad input", {
  url <- fake_server_url()
  served <- runCASSIA_batch(loadExampleMarkers(), provider = url, out_dir = run_dir(), progress = FALSE,
                            use_cache = FALSE)
  cons <- runCASSIA_consensus(list(served, offline_runs()[[1]]))
  expect_setequal(cons[["Cluster ID"]], c("0", "1", "2"))
  expect_true(all(cons$Votes == 2L))
  # the fake server calls every cluster a T cell; the offline annotator does so only for cluster 0
  expect_identical(cons$Status[order(cons[["Cluster ID"]])], c("consensus", "conflict", "conflict"))

  expect_error(runCASSIA_consensus(list()), "`runs` is empty", class = "cassia_InputError")
  expect_error(runCASSIA_consensus(c(tempfile("none-"))), "Run 1 not found", class = "cassia_InputError")
  expect_error(runCASSIA_consensus(offline_runs(), labels = c("a", NA)), "`labels` must not contain NA",
               class = "cassia_InputError")
  expect_error(runCASSIA_consensus(offline_runs(), labels = "a"), "got 1 labels for 2 runs",
               class = "cassia_InputError")
  err <- tryCatch(runCASSIA_consensus(offline_runs(), no_such_option = 1), error = function(e) e)
  expect_s3_class(err, "cassia_error")
  expect_match(conditionMessage(err), "no_such_option")
})
