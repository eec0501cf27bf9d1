# The one door between R and the Python engine. Every request and every answer is JSON text:
# tables go out as column-oriented JSON and come back as {columns, types, data}, so the result
# does not depend on which NumPy/pandas/reticulate versions are installed (reticulate 1.28
# cannot convert NumPy 2 or pandas 3 objects). The Python side is python/cassia/rbridge.py.

#' Send one request to the engine and return its decoded answer
#'
#' @param op Operation name understood by `cassia.rbridge.handle()`.
#' @param ... Named request fields; `NULL` fields are dropped (the engine's default applies).
#' @return The `result` part of the answer, as a nested list.
#' @noRd
bridge_request <- function(op, ...) {
  fields <- list(...)
  fields <- fields[!vapply(fields, is.null, logical(1))]
  request <- c(list(op = op), fields)
  answer <- switch(bridge_transport(),
    reticulate = send_reticulate(request),
    subprocess = send_subprocess(request)
  )
  decoded <- jsonlite::fromJSON(answer, simplifyVector = FALSE)
  if (!isTRUE(decoded$ok)) {
    type <- decoded$error$type
    cassia_abort(decoded$error$message, class = c(paste0("cassia_", type), "cassia_engine_error"))
  }
  decoded$result
}

#' How requests reach the engine
#'
#' `"reticulate"` (default): the engine runs inside this R process. `"subprocess"`: each
#' request starts the engine's Python in a child process. Subprocess is chosen automatically
#' when R itself runs inside Python (rpy2), where reticulate 1.28 crashes on R's garbage
#' collection; set `options(cassia.bridge = "subprocess")` to choose it anywhere.
#' @noRd
bridge_transport <- function() {
  chosen <- getOption("cassia.bridge")
  if (!is.null(chosen)) {
    if (!identical(chosen, "reticulate") && !identical(chosen, "subprocess")) {
      cassia_abort("options(cassia.bridge) must be \"reticulate\" or \"subprocess\".", class = "cassia_InputError")
    }
    return(chosen)
  }
  if (identical(commandArgs()[1], "rpy2")) "subprocess" else "reticulate"
}

request_json <- function(request) {
  as.character(jsonlite::toJSON(request, auto_unbox = TRUE, null = "null", na = "null", digits = NA,
                                force = TRUE))
}

send_reticulate <- function(request) {
  # R's API key variables travel with every request: Python copied the environment when it
  # started and would not see a Sys.setenv() made later.
  env <- Sys.getenv()
  keys <- env[grepl("_API_KEY$", names(env))]
  request$environment <- if (length(keys)) as.list(keys) else structure(list(), names = character(0))
  cassia_engine()
  # The request crosses as base64 text inside a Python expression: no Python object is
  # created on the R side, and any request text is a safe literal.
  encoded <- gsub("[\r\n]", "", jsonlite::base64_enc(enc2utf8(request_json(request))))
  code <- sprintf("__import__('cassia.rbridge', fromlist=['handle_base64']).handle_base64('%s')", encoded)
  tryCatch(
    reticulate::py_eval(code, convert = TRUE),
    error = function(err) cassia_abort(python_error_message(err), class = "cassia_python_error")
  )
}

#' Encode a data frame for the engine
#'
#' Factors become strings and `NA`/`NaN` become null. Doubles travel as text with 17
#' significant digits (jsonlite stops at 15, and JSON has no Inf), so every value, including
#' FindAllMarkers' `Inf` fold changes, arrives exactly as it was.
#' @noRd
bridge_table <- function(df) {
  if (!is.data.frame(df)) cassia_abort("internal: bridge_table() needs a data frame")
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  doubles <- names(df)[vapply(df, is.double, logical(1))]
  for (name in doubles) {
    col <- df[[name]]
    df[[name]] <- ifelse(is.na(col), NA_character_, sprintf("%.17g", col))
  }
  columns <- jsonlite::toJSON(df, dataframe = "columns", na = "null", digits = NA,
                              factor = "string", rownames = FALSE)
  list(columns = jsonlite::unbox(as.character(columns)), doubles = I(doubles))
}

#' Decode a table the engine sent back ({columns, types, data}) into a typed data frame
#' @noRd
bridge_frame <- function(payload) {
  columns <- unlist(payload$columns)
  if (is.null(columns)) columns <- character(0)
  types <- unlist(payload$types)
  out <- lapply(seq_along(columns), function(i) {
    values <- payload$data[[i]]
    switch(types[[i]],
      character = vapply(values, function(v) if (is.null(v)) NA_character_ else as.character(v), ""),
      integer = vapply(values, function(v) if (is.null(v)) NA_integer_ else as.integer(v), 1L),
      double = vapply(values, function(v) if (is.null(v)) NA_real_ else as_double(v), 1),
      logical = vapply(values, function(v) if (is.null(v)) NA else as.logical(v), TRUE),
      cassia_abort(paste0("internal: the engine sent column '", columns[[i]], "' with unknown type '",
                          types[[i]], "'"))
    )
  })
  names(out) <- columns
  frame <- as.data.frame(out, stringsAsFactors = FALSE, check.names = FALSE,
                         col.names = columns)
  if (!length(columns)) frame <- data.frame()
  frame
}

# JSON numbers are finite; the engine spells non-finite doubles as strings.
as_double <- function(v) {
  if (is.character(v)) {
    return(switch(v, Infinity = Inf, `-Infinity` = -Inf, `NaN` = NaN, as.numeric(v)))
  }
  as.numeric(v)
}

#' Send a data frame through the engine and back unchanged (for checking the bridge)
#'
#' @param df A data frame.
#' @return The data frame as the engine read it, decoded again: a check that names, types,
#'   missing values and non-ASCII text survive the round trip.
#' @noRd
bridge_roundtrip <- function(df) {
  bridge_frame(bridge_request("roundtrip", table = bridge_table(df)))
}
