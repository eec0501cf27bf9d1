# The subprocess transport of the bridge: each request runs `python -m cassia.rbridge` with the
# request in a file and the answer in another. Keys never go into the request file: they are
# handed to the child in an environment variable that only it sees.

send_subprocess <- function(request) {
  python <- cassia_subprocess_python()
  secrets <- list()
  if (!is.null(request$api_key)) {
    secrets$api_key <- request$api_key
    request$api_key <- NULL
  }
  if (!is.null(request$options$api_key)) {
    secrets$options.api_key <- request$options$api_key
    request$options$api_key <- NULL
  }
  request_file <- tempfile("cassia-request-", fileext = ".json")
  answer_file <- tempfile("cassia-answer-", fileext = ".json")
  on.exit(unlink(c(request_file, answer_file)), add = TRUE)
  writeLines(enc2utf8(request_json(request)), request_file, useBytes = TRUE)
  Sys.chmod(request_file, "0600")

  old <- Sys.getenv("CASSIA_BRIDGE_SECRETS", unset = NA)
  on.exit(if (is.na(old)) Sys.unsetenv("CASSIA_BRIDGE_SECRETS") else Sys.setenv(CASSIA_BRIDGE_SECRETS = old),
          add = TRUE)
  if (length(secrets)) {
    Sys.setenv(CASSIA_BRIDGE_SECRETS = request_json(secrets))
  } else {
    Sys.unsetenv("CASSIA_BRIDGE_SECRETS")
  }
  # stderr is inherited: progress bars and the engine's one-line notices reach the console.
  status <- with_python_libpath(python, suppressWarnings(system2(
    python, c("-m", "cassia.rbridge", "--request", shQuote(request_file), "--answer", shQuote(answer_file)),
    stdout = "", stderr = ""
  )))
  if (!file.exists(answer_file)) {
    cassia_engine_missing(paste0(python, " -m cassia.rbridge exited with status ", status, " without an answer"))
  }
  paste(readLines(answer_file, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
}

cassia_subprocess_python <- function() {
  chosen <- .cassia_state$python
  if (isTRUE(.cassia_state$ready) && identical(chosen$transport, "subprocess")) return(chosen$path)
  python <- cassia_find_python()
  if (is.null(python)) cassia_engine_missing(engine_search_detail())
  python$path
}
