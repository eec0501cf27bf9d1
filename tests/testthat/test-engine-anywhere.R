# The engine is found from any folder and any R session, and a reticulate already bound to
# another Python does not stop CASSIA. Each test runs a fresh R session (callr).

test_that("a fresh session in a temporary folder, without RETICULATE_PYTHON, finds the recorded engine", {
  require_engine()
  require_package("callr")
  out <- run_dir()
  got <- callr::r(function(out) {
    library(CASSIA)
    res <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = out, progress = FALSE)
    list(wd = getwd(), clusters = res$`Cluster ID`, status = res$Status,
         reticulate_python = Sys.getenv("RETICULATE_PYTHON", unset = NA))
  }, args = list(out = out), env = fresh_session_env(), wd = tempdir())
  expect_identical(normalizePath(got$wd), normalizePath(tempdir()))
  expect_identical(got$clusters, c("0", "1", "2"))
  expect_identical(got$status, c("ok", "ok", "ok"))
  expect_true(is.na(got$reticulate_python))  # an empty RETICULATE_PYTHON counts as not set
  expect_true(file.exists(file.path(out, "summary.csv")))
})

test_that("with reticulate already bound to a Python without the engine, CASSIA switches to a subprocess once", {
  require_engine()
  require_package("callr")
  other <- python_without_engine()
  got <- callr::r(function(other, out) {
    Sys.unsetenv("RETICULATE_PYTHON")  # reticulate itself refuses an empty one
    reticulate::use_python(other, required = TRUE)
    reticulate::py_eval("1 + 1")  # as umap-learn or leiden through reticulate would have done
    library(CASSIA)
    notes <- character(0)
    res <- withCallingHandlers(
      list(runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = out, progress = FALSE),
           runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = paste0(out, "-2"), progress = FALSE)),
      message = function(m) {
        notes <<- c(notes, conditionMessage(m))
        invokeRestart("muffleMessage")
      }
    )
    doctor <- cassia_doctor()
    list(status = res[[1]]$Status, status2 = res[[2]]$Status, notes = notes,
         bound = reticulate::py_config()$python, bridge = doctor$status[doctor$check == "bridge"],
         bridge_detail = doctor$detail[doctor$check == "bridge"])
  }, args = list(other = other, out = run_dir()), env = fresh_session_env(), wd = tempdir())
  expect_identical(got$status, c("ok", "ok", "ok"))
  expect_identical(got$status2, c("ok", "ok", "ok"))
  expect_identical(got$bound, other)  # the user's reticulate session is left as it was
  switched <- grep("separate process", got$notes, value = TRUE)
  expect_length(switched, 1L)  # said once, not on every call
  expect_match(switched, other, fixed = TRUE)
  expect_identical(got$bridge, "subprocess")
  expect_match(got$bridge_detail, "without the engine", fixed = TRUE)
})
