#' Start the engine's stand-in LLM server on this machine
#'
#' Starts `python -m cassia.testing.fake_server` on 127.0.0.1: a small server that speaks the
#' OpenAI chat-completions and Anthropic messages protocols and answers every request with a
#' well-formed reply. Use it to try a local-server set-up, or in tests and vignettes, without a
#' key or a network. Pass its `url` as `provider` (or `base_url`) to any `runCASSIA_*()`
#' function. Needs the processx package.
#'
#' @param args Further command-line arguments for the server (see
#'   `python -m cassia.testing.fake_server --help`).
#' @param timeout Seconds to wait for the server to print its address.
#' @return A `cassia_fake_server` list: `url` (the base URL), `process` (the processx
#'   process) and `stop()`, a function that stops the server. The server also stops when the
#'   object is garbage-collected or R exits.
#' @examples
#' \dontrun{
#' server <- cassia_fake_server()
#' res <- runCASSIA_batch(loadExampleMarkers(), provider = server$url, out_dir = tempfile())
#' server$stop()
#' }
#' @export
cassia_fake_server <- function(args = character(0), timeout = 30) {
  if (!requireNamespace("processx", quietly = TRUE)) {
    cassia_abort("cassia_fake_server() needs the processx package; install it with install.packages(\"processx\").",
                 class = "cassia_InputError")
  }
  python <- cassia_python_path()
  # Output goes to files, not pipes: a chatty server must never block on a full pipe.
  out_file <- tempfile("cassia-fake-server-", fileext = ".out")
  err_file <- tempfile("cassia-fake-server-", fileext = ".err")
  process <- with_python_libpath(python, processx::process$new(
    python, c("-m", "cassia.testing.fake_server", "--port", "0", args),
    stdout = out_file, stderr = err_file, cleanup = TRUE
  ))
  deadline <- Sys.time() + timeout
  url <- NULL
  while (is.null(url) && Sys.time() < deadline) {
    size <- if (file.exists(out_file)) file.size(out_file) else 0
    text <- if (size > 0) readChar(out_file, size, useBytes = TRUE) else ""
    if (grepl("\n", text, fixed = TRUE)) {  # the first line is complete
      url <- trimws(strsplit(text, "\n", fixed = TRUE)[[1]][[1]])
    } else if (!process$is_alive()) {
      break
    } else {
      Sys.sleep(0.1)
    }
  }
  if (is.null(url)) {
    errors <- if (file.exists(err_file)) paste(utils::tail(readLines(err_file, warn = FALSE), 10), collapse = "\n") else ""
    process$kill()
    cassia_abort(paste0("The fake LLM server did not start (", python, " -m cassia.testing.fake_server): ", errors),
                 class = "cassia_engine_missing")
  }
  server <- list(url = url, process = process, stop = function() {
    if (process$is_alive()) process$kill()
    invisible(NULL)
  })
  class(server) <- "cassia_fake_server"
  server
}

#' @export
print.cassia_fake_server <- function(x, ...) {
  cat("CASSIA fake LLM server at ", x$url, if (x$process$is_alive()) " (running)" else " (stopped)", "\n", sep = "")
  invisible(x)
}

# The interpreter that has the engine (the one the bridge uses).
cassia_python_path <- function() {
  cassia_engine()$path
}
