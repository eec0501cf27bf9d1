test_that("setLLMApiKey gives the key to this session, names the variable, never prints the key", {
  require_engine()
  withr::local_envvar(OPENROUTER_API_KEY = NA, R_ENVIRON_USER = tempfile("Renviron-"))
  withr::defer(CASSIA:::bridge_request("clear_api_keys"))
  key <- "sk-or-test-key-0123456789"
  messages <- character(0)
  env_var <- withCallingHandlers(
    setLLMApiKey(key, provider = "openrouter"),
    message = function(m) {
      messages <<- c(messages, conditionMessage(m))
      invokeRestart("muffleMessage")
    }
  )
  expect_identical(env_var, "OPENROUTER_API_KEY")
  expect_identical(Sys.getenv("OPENROUTER_API_KEY"), key)
  expect_false(any(grepl(key, messages, fixed = TRUE)))
  expect_match(paste(messages, collapse = " "), "OPENROUTER_API_KEY")
  expect_false(file.exists(Sys.getenv("R_ENVIRON_USER")))  # persist = FALSE writes nothing
  report <- cassia_doctor()
  expect_identical(report$status[report$check == "key: openrouter"], "set")
})

test_that("a key set with Sys.setenv() after Python started reaches the engine, and its removal too", {
  require_engine()
  withr::local_envvar(ANTHROPIC_API_KEY = "sk-ant-late-key-0123456789")
  status <- function() {
    report <- cassia_doctor()
    report$status[report$check == "key: anthropic"]
  }
  expect_identical(status(), "set")
  Sys.unsetenv("ANTHROPIC_API_KEY")
  expect_identical(status(), "not set")
})

test_that("persist = TRUE writes the key to .Renviron once, replacing an older line", {
  require_engine()
  renviron <- tempfile("Renviron-")
  writeLines(c("R_MAX_NUM_DLLS=200", "DEEPSEEK_API_KEY=old-key-value"), renviron)
  withr::local_envvar(DEEPSEEK_API_KEY = NA, R_ENVIRON_USER = renviron)
  withr::defer(CASSIA:::bridge_request("clear_api_keys"))
  messages <- capture_messages(setLLMApiKey("sk-new-deepseek-key-42", provider = "deepseek", persist = TRUE))
  expect_identical(readLines(renviron), c("R_MAX_NUM_DLLS=200", "DEEPSEEK_API_KEY=sk-new-deepseek-key-42"))
  expect_match(paste(messages, collapse = ""), renviron, fixed = TRUE)
  expect_false(any(grepl("sk-new-deepseek-key-42", messages, fixed = TRUE)))
})

test_that("setLLMApiKey refuses bad arguments, and unknown providers with the engine's message", {
  require_engine()
  expect_error(setLLMApiKey("", provider = "openai"), "non-empty string", class = "cassia_InputError")
  expect_error(setLLMApiKey(c("a", "b"), provider = "openai"), "non-empty string", class = "cassia_InputError")
  expect_error(setLLMApiKey("sk-something-long"), "must name the provider", class = "cassia_InputError")
  expect_error(setLLMApiKey("sk-something-long", provider = "openai", persist = NA), "TRUE or FALSE")
  err <- tryCatch(setLLMApiKey("sk-unknown-vendor-key", provider = "nosuchvendor"), error = function(e) e)
  expect_s3_class(err, "cassia_ConfigError")
  expect_match(conditionMessage(err), "unknown provider 'nosuchvendor'")
  expect_false(grepl("sk-unknown-vendor-key", conditionMessage(err), fixed = TRUE))
})

test_that("loadExampleMarkers returns the FindAllMarkers table with character clusters", {
  markers <- loadExampleMarkers()
  expect_identical(names(markers), c("p_val", "avg_log2FC", "pct.1", "pct.2", "p_val_adj", "cluster", "gene"))
  expect_type(markers$cluster, "character")
  expect_setequal(unique(markers$cluster), c("0", "1", "2"))
  expect_true(all(markers$avg_log2FC > 0))
  expect_true(all(c("MS4A1", "CD79A") %in% markers$gene[markers$cluster == "2"]))
})
