# Provider options reach the engine from R, and a strict server (the fake server's llama-cpp
# mode: HTTP 500 with a validation body for json_schema) is negotiated, not retried to death.

test_that("a strict llama.cpp-like server is negotiated and R's limits reach the wire", {
  require_engine()
  server <- CASSIA::cassia_fake_server(args = c("--vendor", "llama-cpp"))
  on.exit(server$stop(), add = TRUE)
  out <- run_dir()
  res <- runCASSIA_pipeline(loadExampleMarkers(), tissue = "peripheral blood", provider = server$url,
                            model = "some-local-model", out_dir = out, progress = FALSE, use_cache = FALSE,
                            max_tokens = 900, scoring_max_tokens = 300, max_concurrency = 2)
  expect_true(all(res$Status == "ok"), info = paste(res$Error, collapse = "; "))
  providers <- attr(res, "manifest")$providers
  expect_identical(as.integer(providers$annotator$max_tokens), 900L)
  expect_identical(as.integer(providers$scorer$max_tokens), 300L)
  expect_identical(as.integer(providers$annotator$max_concurrency), 2L)
})
