test_that("a data frame survives the trip to the engine and back: factors, NA, non-ASCII, Inf", {
  require_engine()
  df <- data.frame(
    gene = c("CD3D", "MS4A1", NA, "Δgène"),
    cluster = factor(c("1", "10", "1", "naïve T"), levels = c("naïve T", "10", "1")),
    avg_log2FC = c(1.5, Inf, NA, -Inf),
    count = c(1L, NA, 3L, 2147483647L),
    flag = c(TRUE, NA, FALSE, TRUE),
    check.names = FALSE, stringsAsFactors = FALSE
  )
  names(df)[4] <- "Zählung (n)"
  back <- CASSIA:::bridge_roundtrip(df)

  expect_identical(names(back), names(df))
  expect_identical(back$gene, df$gene)
  # factors cross as their labels, not their integer codes
  expect_identical(back$cluster, c("1", "10", "1", "naïve T"))
  expect_identical(back$avg_log2FC, c(1.5, Inf, NA, -Inf))
  expect_type(back[["Zählung (n)"]], "double")  # pandas turns an integer column with NA into floats
  expect_equal(back[["Zählung (n)"]], c(1, NA, 3, 2147483647))
  expect_identical(back$flag, c(TRUE, NA, FALSE, TRUE))
  expect_identical(Encoding(back$cluster[4]), "UTF-8")
})

test_that("full precision and empty tables cross the bridge", {
  require_engine()
  df <- data.frame(p = c(1.234567890123456e-300, 0.1 + 0.2), s = c("", " "), stringsAsFactors = FALSE)
  back <- CASSIA:::bridge_roundtrip(df)
  expect_identical(back$p, df$p)
  expect_identical(back$s, df$s)

  empty <- CASSIA:::bridge_roundtrip(data.frame(a = character(0), b = numeric(0)))
  expect_identical(nrow(empty), 0L)
  expect_identical(names(empty), c("a", "b"))
})

test_that("integer columns without NA stay integers and all-NA columns stay present", {
  require_engine()
  back <- CASSIA:::bridge_roundtrip(data.frame(n = 1:3, none = NA))
  expect_type(back$n, "integer")
  expect_identical(back$n, 1:3)
  expect_true("none" %in% names(back))
  expect_true(all(is.na(back$none)))
})

test_that("an engine error becomes one R error with the engine's message and no traceback", {
  require_engine()
  err <- tryCatch(CASSIA:::bridge_request("no_such_operation"), error = function(e) e)
  expect_s3_class(err, "cassia_error")
  expect_s3_class(err, "cassia_InputError")
  expect_match(conditionMessage(err), "unknown bridge operation 'no_such_operation'")
  expect_false(grepl("Traceback|File \"", conditionMessage(err)))
  expect_null(conditionCall(err))
})

test_that("typed summary columns come back with R types even when every value is missing", {
  payload <- list(
    columns = list("Cluster ID", "Score", "Validated", "Tokens"),
    types = list("character", "double", "logical", "integer"),
    data = list(list("1", "10"), list(NULL, NULL), list(TRUE, NULL), list(5L, 7L))
  )
  frame <- CASSIA:::bridge_frame(payload)
  expect_identical(frame[["Cluster ID"]], c("1", "10"))
  expect_identical(frame$Score, c(NA_real_, NA_real_))
  expect_identical(frame$Validated, c(TRUE, NA))
  expect_identical(frame$Tokens, c(5L, 7L))
})
