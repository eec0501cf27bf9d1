# runCASSIA_ensemble() / symphonyCompare(): several models, one consensus, through the fake server.

test_that("runCASSIA_ensemble votes, discusses only disputed clusters and returns the ensemble table", {
  url <- fake_server_url()
  out <- run_dir()
  # the fake model calls every cluster "T cell"; the offline annotator agrees only on the T-cell cluster
  ens <- runCASSIA_ensemble(loadExampleMarkers(), models = c("offline", paste0(url, ":fake-a")),
                            tissue = "peripheral blood", out_dir = out, rounds = 1, progress = FALSE)
  expect_s3_class(ens, "data.frame")
  expect_identical(names(ens)[1:5], c("Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type",
                                      "Cell Ontology ID", "Status"))
  expect_true(all(c("offline General", "fake-a General", "fake-a Final General", "fake-a Tokens") %in% names(ens)))
  expect_setequal(ens[["Cluster ID"]], c("0", "1", "2"))
  expect_type(ens[["Consensus Proportion"]], "double")
  expect_type(ens[["Deliberation Calls"]], "integer")
  expect_true(all(ens[["Ensemble Status"]] %in% c("agreed", "deliberated", "arbitrated", "unresolved")))
  agreed <- ens[["Ensemble Status"]] == "agreed"
  disputed <- !agreed
  expect_true(any(agreed) && any(disputed))
  expect_true(all(ens[["Deliberation Calls"]][agreed] == 0L))
  # one deliberation call per disputed cluster: the offline annotator keeps its answer
  expect_true(all(ens[["Deliberation Calls"]][disputed] == 1L))
  expect_true(all(ens[["Consensus Proportion"]][agreed] == 1))
  expect_identical(cassia_run_dir(ens), normalizePath(out, mustWork = FALSE))
  for (file in c("summary.csv", "ensemble.jsonl", "manifest.json", "report.html")) {
    expect_true(file.exists(file.path(out, file)), info = file)
  }
  expect_true(dir.exists(file.path(out, "models", "fake-a")))
  expect_identical(attr(ens, "manifest")$kind, "ensemble")
  expect_identical(symphonyCompare, runCASSIA_ensemble)
})

test_that("a model that fails loses its votes only, with a warning naming it", {
  url <- fake_server_url()
  expect_warning(
    ens <- runCASSIA_ensemble(loadExampleMarkers(), models = c("offline", paste0(url, ":fake-a"), dead_url()),
                              out_dir = run_dir(), rounds = 0, progress = FALSE),
    "did not finish", class = "cassia_partial_failure")
  expect_true(all(ens[["default Status"]] == "failed"))
  expect_true(all(ens$Status == "ok"))
  expect_true(all(ens[["Models Answered"]] == 2L))
})

test_that("bad models are refused before anything is written", {
  require_engine()
  out <- run_dir()
  expect_error(runCASSIA_ensemble(loadExampleMarkers(), models = "offline", out_dir = out),
               "at least two models", class = "cassia_InputError")
  expect_error(runCASSIA_ensemble(loadExampleMarkers(), models = c("offline", "offline"), arbiter = "offline",
                                  out_dir = out), "cannot be the arbiter")
  expect_error(runCASSIA_ensemble(loadExampleMarkers(), out_dir = out), "at least two", class = "cassia_InputError")
  expect_false(dir.exists(out))
})

test_that("the consensus goes into a Seurat object through add_cassia_to_seurat", {
  require_package("SeuratObject")
  require_engine()
  object <- pbmc()
  ens <- runCASSIA_ensemble(loadExampleMarkers(), models = list("offline", list(provider = "offline", label = "kb")),
                            out_dir = run_dir(), progress = FALSE)
  expect_true(all(c("offline General", "kb General") %in% names(ens)))
  ids <- as.character(SeuratObject::Idents(object))
  ens <- ens[ens[["Cluster ID"]] %in% ids, , drop = FALSE]
  out <- suppressWarnings(add_cassia_to_seurat(object, ens))
  labelled <- out[[]][["CASSIA_general_celltype"]]
  expect_identical(labelled[ids == ens[["Cluster ID"]][1]][1], ens[["Predicted General Cell Type"]][1])
})
