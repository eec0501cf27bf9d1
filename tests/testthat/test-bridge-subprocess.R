# The subprocess transport: the engine runs in a child Python per request (chosen automatically
# when R runs inside Python through rpy2, or with options(cassia.bridge = "subprocess")).

test_that("the subprocess transport carries tables and runs exactly like the in-process one", {
  require_engine()
  withr::local_options(cassia.bridge = "subprocess", cassia.python = CASSIA:::cassia_python_path())
  df <- data.frame(cluster = factor(c("1", "10")), gene = c("CD3D", "Ünïcode"), lfc = c(Inf, 0.1 + 0.2))
  back <- CASSIA:::bridge_roundtrip(df)
  expect_identical(back$cluster, c("1", "10"))
  expect_identical(back$gene, df$gene)
  expect_identical(back$lfc, df$lfc)

  res <- runCASSIA_batch(loadExampleMarkers(), provider = "offline", out_dir = run_dir(), progress = FALSE)
  expect_setequal(res[["Cluster ID"]], c("0", "1", "2"))
  expect_error(CASSIA:::bridge_request("no_such_operation"), "unknown bridge operation", class = "cassia_InputError")
})

test_that("the subprocess transport keeps keys out of the request file", {
  skip_on_os("windows")
  seen <- tempfile("seen-")
  stub <- tempfile("python-")
  # A stand-in engine: records the request file and the secrets variable, answers ok.
  writeLines(c(
    "#!/bin/sh",
    "[ \"$1\" = -c ] && exit 0",
    sprintf("cat \"$4\" > '%s.request'; printf '%%s' \"$CASSIA_BRIDGE_SECRETS\" > '%s.secrets'", seen, seen),
    "printf '{\"ok\": true, \"result\": {\"fine\": 1}}' > \"$6\""
  ), stub)
  Sys.chmod(stub, "0755")
  withr::local_options(cassia.bridge = "subprocess", cassia.python = stub)
  result <- CASSIA:::bridge_request("run", verb = "batch", options = list(api_key = "sk-option-key-0123456789"),
                                    api_key = "sk-top-key-0123456789")
  expect_identical(result$fine, 1L)
  request <- paste(readLines(paste0(seen, ".request")), collapse = "")
  expect_false(grepl("sk-option-key|sk-top-key", request))
  expect_match(request, "\"verb\":\"batch\"")
  secrets <- jsonlite::fromJSON(readLines(paste0(seen, ".secrets"), warn = FALSE))
  expect_identical(secrets$api_key, "sk-top-key-0123456789")
  expect_identical(secrets$options.api_key, "sk-option-key-0123456789")
  expect_identical(Sys.getenv("CASSIA_BRIDGE_SECRETS", unset = "unset"), "unset")  # not left behind in R
})

test_that("an unknown transport is refused", {
  withr::local_options(cassia.bridge = "carrier pigeon")
  expect_error(CASSIA:::bridge_request("doctor"), "must be \"reticulate\" or \"subprocess\"",
               class = "cassia_InputError")
})
