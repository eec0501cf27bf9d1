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
  # Tables written for this request (bridge_table) are removed once it is answered.
  on.exit({
    unlink(.cassia_state$request_files, recursive = TRUE)
    .cassia_state$request_files <- NULL
  }, add = TRUE)
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
#' collection, and when reticulate is bound to a Python without the engine (see
#' `cassia_engine()`); set `options(cassia.bridge = "subprocess")` to choose it anywhere.
#' @noRd
bridge_transport <- function() {
  chosen <- getOption("cassia.bridge")
  if (!is.null(chosen)) {
    if (!identical(chosen, "reticulate") && !identical(chosen, "subprocess")) {
      cassia_abort("options(cassia.bridge) must be \"reticulate\" or \"subprocess\".", class = "cassia_InputError")
    }
    return(chosen)
  }
  if (identical(commandArgs()[1], "rpy2")) return("subprocess")
  cassia_engine()$transport
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
#' Tables cross as a columnar file set, not as JSON text: each column is written with
#' `writeBin()` into a temporary folder (doubles as 8-byte IEEE values, integers and logicals as
#' 4-byte integers, text as 4-byte codes into a JSON list of its distinct values), and the
#' request carries only the folder's description. Every value arrives exactly (full precision,
#' `Inf`, `NA`, non-ASCII text), and a 500,000-row marker table costs about what reading its
#' CSV costs the command line, instead of minutes of JSON. Factors cross as their labels. The
#' folder is removed when the request that sent it returns.
#' @noRd
bridge_table <- function(df) {
  if (!is.data.frame(df)) cassia_abort("internal: bridge_table() needs a data frame")
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  dir <- tempfile("cassia-table-")
  dir.create(dir)
  .cassia_state$request_files <- c(.cassia_state$request_files, dir)
  columns <- lapply(seq_along(df), function(i) {
    column <- df[[i]]
    if (is.factor(column)) column <- as.character(column)
    file <- file.path(dir, paste0(i, ".bin"))
    entry <- list(name = jsonlite::unbox(enc2utf8(names(df)[[i]])), file = jsonlite::unbox(file))
    if (is.double(column)) {
      entry$type <- jsonlite::unbox("double")
      writeBin(column, file, size = 8L, endian = "little")
    } else if (is.integer(column) || is.logical(column)) {
      entry$type <- jsonlite::unbox(if (is.logical(column)) "logical" else "integer")
      writeBin(as.integer(column), file, size = 4L, endian = "little")
    } else {
      column <- enc2utf8(as.character(column))
      levels <- unique(column[!is.na(column)])
      entry$type <- jsonlite::unbox("character")
      entry$levels <- I(levels)
      writeBin(match(column, levels) - 1L, file, size = 4L, endian = "little")
    }
    entry
  })
  list(columnar = list(rows = jsonlite::unbox(nrow(df)), columns = columns))
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
