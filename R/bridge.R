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
  # R's API key variables travel with every request: Python copied the environment when it
  # started and would not see a Sys.setenv() made later.
  env <- Sys.getenv()
  keys <- env[grepl("_API_KEY$", names(env))]
  fields$environment <- if (length(keys)) as.list(keys) else structure(list(), names = character(0))
  request <- jsonlite::toJSON(c(list(op = op), fields), auto_unbox = TRUE, null = "null",
                              na = "null", digits = NA, force = TRUE)
  bridge <- cassia_engine()
  answer <- tryCatch(
    reticulate::py_to_r(bridge$handle(as.character(request))),
    error = function(err) cassia_abort(python_error_message(err), class = "cassia_python_error")
  )
  decoded <- jsonlite::fromJSON(answer, simplifyVector = FALSE)
  if (!isTRUE(decoded$ok)) {
    type <- decoded$error$type
    cassia_abort(decoded$error$message, class = c(paste0("cassia_", type), "cassia_engine_error"))
  }
  decoded$result
}

#' Encode a data frame for the engine
#'
#' Factors become strings, `NA`/`NaN` become null, numbers keep full precision; infinite values
#' (FindAllMarkers writes `Inf` fold changes) travel in a side list because JSON has no Inf.
#' @noRd
bridge_table <- function(df) {
  if (!is.data.frame(df)) cassia_abort("internal: bridge_table() needs a data frame")
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  infinite <- list()
  for (name in names(df)) {
    col <- df[[name]]
    if (is.double(col) && any(is.infinite(col))) {
      infinite[[name]] <- list(positive = which(col == Inf) - 1L, negative = which(col == -Inf) - 1L)
      col[is.infinite(col)] <- NA
      df[[name]] <- col
    }
  }
  columns <- jsonlite::toJSON(df, dataframe = "columns", na = "null", digits = NA,
                              factor = "string", rownames = FALSE)
  # An empty list must still be a JSON object, not [].
  list(columns = jsonlite::unbox(as.character(columns)),
       infinite = if (length(infinite)) infinite else structure(list(), names = character(0)))
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
