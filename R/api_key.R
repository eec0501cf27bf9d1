#' Set the API key of an LLM provider
#'
#' Gives the engine the key for `provider` for this R session (and sets the provider's
#' environment variable, so child processes see it too). With `persist = TRUE` the key is also
#' written to your `~/.Renviron` (or the file named by `R_ENVIRON_USER`) so later sessions find
#' it. The key is never printed.
#'
#' @param api_key The key, a single string.
#' @param provider The provider it belongs to: `"openai"`, `"anthropic"`, `"openrouter"`,
#'   `"deepseek"`, or another name the engine knows (see [cassia_doctor()]).
#' @param persist Also save the key in `~/.Renviron`. Off by default: only do this on a machine
#'   you alone use.
#' @return The name of the environment variable that now holds the key, invisibly.
#' @examples
#' \dontrun{
#' setLLMApiKey(Sys.getenv("MY_OPENAI_KEY"), provider = "openai")
#' }
#' @export
setLLMApiKey <- function(api_key, provider, persist = FALSE) {
  if (!is.character(api_key) || length(api_key) != 1L || is.na(api_key) || !nzchar(api_key)) {
    cassia_abort("`api_key` must be a single non-empty string.", class = "cassia_InputError")
  }
  if (missing(provider) || !is.character(provider) || length(provider) != 1L || is.na(provider)) {
    cassia_abort("`provider` must name the provider the key belongs to, e.g. provider = \"openai\".",
                 class = "cassia_InputError")
  }
  if (!is.logical(persist) || length(persist) != 1L || is.na(persist)) {
    cassia_abort("`persist` must be TRUE or FALSE.", class = "cassia_InputError")
  }
  result <- bridge_request("set_api_key", api_key = api_key, provider = provider)
  env_var <- result$env_var
  if (is.null(env_var)) {
    message("Set the API key for provider \"", provider, "\" for this R session.")
    if (persist) message("Provider \"", provider, "\" has no key variable, so nothing was saved to .Renviron.")
    return(invisible(NA_character_))
  }
  do.call(Sys.setenv, stats::setNames(list(api_key), env_var))
  message("Set the API key for provider \"", provider, "\" (", env_var, ") for this R session.")
  if (persist) {
    path <- renviron_path()
    write_renviron_entry(path, env_var, api_key)
    message("Saved ", env_var, " in ", path, "; later R sessions will find it. Remove that line to forget the key.")
  }
  invisible(env_var)
}

renviron_path <- function() {
  custom <- Sys.getenv("R_ENVIRON_USER")
  if (nzchar(custom)) return(path.expand(custom))
  path.expand(file.path("~", ".Renviron"))
}

# Replace (or add) one VAR=value line, keeping every other line as it was.
write_renviron_entry <- function(path, name, value) {
  lines <- if (file.exists(path)) readLines(path, warn = FALSE) else character(0)
  lines <- lines[!grepl(paste0("^\\s*", name, "\\s*="), lines)]
  created <- !file.exists(path)
  writeLines(c(lines, paste0(name, "=", value)), path)
  if (created) Sys.chmod(path, mode = "0600")
  invisible(path)
}
