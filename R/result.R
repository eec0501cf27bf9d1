# The result of a run in R: the run's summary data frame with the class "cassia_result", so it
# prints as an overview (clusters, types, scores, failures, cost, report) instead of a raw
# 21-column frame. It stays a data frame for everything else: `res$Score`, `res[1:2, ]`,
# `write.csv(res)`, `as.data.frame(res)` (which drops the class) all work as usual.

#' Print and summarise a CASSIA result
#'
#' A `runCASSIA_*()` result is the run's summary data frame with class `cassia_result`.
#' `print()` shows one line per cluster (identity, general and detailed type, score, status)
#' under a header with the counts, tokens, cost and where the run and its report are, then the
#' failed and the unvalidated clusters (never passed the Validator) by name;
#' `summary()` counts the cell types and scores and lists the failures. Use
#' `as.data.frame()` for the plain data frame with every column.
#'
#' @param x,object A result of [runCASSIA_batch()], [runCASSIA_pipeline()],
#'   [runCASSIA_score_batch()], [runCASSIA_subclusters()] or [runCASSIA_annotationboost()].
#' @param n Rows to show at most.
#' @param ... Ignored.
#' @return `print()` returns `x` invisibly; `summary()` a `summary.cassia_result` list with
#'   `clusters`, `ok`, `failed` (a data frame of cluster and reason), `types` (a table of general
#'   cell types), `scores` (quantiles, `NULL` before scoring), `tokens`, `cost_usd`, `run_dir`
#'   and `report`.
#' @examples
#' res <- structure(data.frame(
#'   `Cluster ID` = c("0", "1"), `Predicted General Cell Type` = c("T cell", NA),
#'   `Predicted Detailed Cell Type` = c("CD4 T cell", NA), Score = c(88, NA),
#'   Status = c("ok", "failed"), Error = c(NA, "connection refused"),
#'   check.names = FALSE), class = c("cassia_result", "data.frame"))
#' res
#' summary(res)
#' @name cassia_result
NULL

#' @rdname cassia_result
#' @export
print.cassia_result <- function(x, n = 20, ...) {
  info <- summary(x)
  cat(result_header(info), sep = "\n")
  shown <- result_overview(x)
  if (is.null(shown)) {
    print(as.data.frame(x))
    return(invisible(x))
  }
  if (nrow(shown)) {
    print(utils::head(shown, n), row.names = FALSE, right = FALSE)
    if (nrow(shown) > n) cat("... ", nrow(shown) - n, " more rows\n", sep = "")
  }
  if (nrow(info$failed)) {
    cat("Failed: ", paste0(info$failed$cluster, " (", info$failed$reason, ")", collapse = "; "), "\n", sep = "")
  }
  status <- column_or_na(x, "Status")
  unvalidated <- !is.na(status) & status == "unvalidated"
  if (any(unvalidated)) {  # a diagnosis, not a call: said beside the failures
    cat("Unvalidated (never passed the Validator; not to be taken at face value): ",
        paste(as.character(column_or_na(x, "Cluster ID"))[unvalidated], collapse = ", "), "\n", sep = "")
  }
  cat("All columns: as.data.frame(x); run folder: cassia_run_dir(x)\n")
  invisible(x)
}

#' @rdname cassia_result
#' @export
summary.cassia_result <- function(object, ...) {
  status <- column_or_na(object, "Status")
  failed <- !is.na(status) & status == "failed"
  general <- column_or_na(object, general_column(object))
  scores <- suppressWarnings(as.numeric(column_or_na(object, "Score")))
  manifest <- attr(object, "manifest", exact = TRUE)
  run_dir <- attr(object, "run_dir", exact = TRUE)
  report <- if (!is.null(run_dir)) file.path(run_dir, "report.html") else NULL
  if (!is.null(report) && !file.exists(report)) report <- NULL
  cost <- suppressWarnings(as.numeric(column_or_na(object, "Cost USD")))
  tokens <- suppressWarnings(as.numeric(column_or_na(object, "Tokens")))
  out <- list(
    clusters = nrow(object),
    ok = sum(!failed),
    failed = data.frame(cluster = as.character(column_or_na(object, "Cluster ID"))[failed],
                        reason = vapply(column_or_na(object, "Error")[failed], first_line, ""),
                        stringsAsFactors = FALSE),
    types = table(general[!failed & !is.na(general)], dnn = NULL),
    scores = if (any(!is.na(scores))) stats::quantile(scores, na.rm = TRUE) else NULL,
    tokens = if (any(!is.na(tokens))) sum(tokens, na.rm = TRUE) else NULL,
    cost_usd = if (any(!is.na(cost))) sum(cost, na.rm = TRUE) else NULL,
    kind = manifest$kind %||% NA_character_,
    provider = unique(stats::na.omit(column_or_na(object, "Provider"))),
    model = unique(stats::na.omit(column_or_na(object, "Model"))),
    run_dir = run_dir,
    report = report
  )
  class(out) <- "summary.cassia_result"
  out
}

#' @rdname cassia_result
#' @export
print.summary.cassia_result <- function(x, ...) {
  cat(result_header(x), sep = "\n")
  if (length(x$types)) {
    cat("Cell types (clusters):\n")
    types <- sort(x$types, decreasing = TRUE)
    cat(paste0("  ", names(types), ": ", as.integer(types), collapse = "\n"), "\n", sep = "")
  }
  if (!is.null(x$scores)) {
    cat("Scores: min ", x$scores[[1]], ", median ", x$scores[[3]], ", max ", x$scores[[5]], "\n", sep = "")
  }
  if (nrow(x$failed)) {
    cat("Failed clusters:\n")
    cat(paste0("  ", x$failed$cluster, ": ", x$failed$reason, collapse = "\n"), "\n", sep = "")
  }
  invisible(x)
}

#' @rdname cassia_result
#' @param row.names,optional Passed on to the data frame method.
#' @export
as.data.frame.cassia_result <- function(x, row.names = NULL, optional = FALSE, ...) {
  class(x) <- "data.frame"
  x
}

result_header <- function(info) {
  what <- if (!is.na(info$kind)) paste0("CASSIA ", info$kind, " result") else "CASSIA result"
  counts <- paste0(info$clusters, " cluster", if (info$clusters == 1) "" else "s", ": ", info$ok, " annotated",
                   if (nrow(info$failed)) paste0(", ", nrow(info$failed), " failed") else "")
  by <- paste(c(if (length(info$provider)) paste(info$provider, collapse = ", "),
                if (length(info$model)) paste(info$model, collapse = ", ")), collapse = " / ")
  spend <- c(if (!is.null(info$tokens)) paste0(format(info$tokens, big.mark = ","), " tokens"),
             if (!is.null(info$cost_usd)) sprintf("$%.4f", info$cost_usd))
  c(paste0("<", what, "> ", counts, if (nzchar(by)) paste0(" (", by, ")") else ""),
    if (length(spend)) paste0("Spent: ", paste(spend, collapse = ", ")),
    if (!is.null(info$run_dir)) paste0("Run: ", info$run_dir),
    if (!is.null(info$report)) paste0("Report: ", info$report))
}

# The columns worth a glance, or NULL when the frame no longer has the identity column.
result_overview <- function(x) {
  if (!"Cluster ID" %in% names(x)) return(NULL)
  wanted <- c(cluster = "Cluster ID", general = general_column(x),
              detailed = if ("Sub Cell Type" %in% names(x)) "Sub Cell Type" else "Predicted Detailed Cell Type",
              score = "Score", status = "Status")
  present <- wanted[wanted %in% names(x)]
  shown <- as.data.frame(lapply(present, function(column) x[[column]]), stringsAsFactors = FALSE)
  names(shown) <- names(present)
  shown
}

# Subcluster results name the general type "Main Cell Type".
general_column <- function(x) {
  if ("Main Cell Type" %in% names(x)) "Main Cell Type" else "Predicted General Cell Type"
}

column_or_na <- function(x, column) {
  if (column %in% names(x)) x[[column]] else rep(NA, nrow(x))
}

first_line <- function(text) {
  if (is.na(text) || !nzchar(text)) return("no reason recorded")
  line <- strsplit(as.character(text), "\n", fixed = TRUE)[[1]][[1]]
  if (nchar(line) > 120) paste0(substr(line, 1, 117), "...") else line
}
