# What runCASSIA_batch(), runCASSIA_pipeline() and runCASSIA_score_batch() share: collecting
# their arguments into engine options and turning the engine's answer into a data frame.

#' Engine options from R arguments
#'
#' Drops `NULL`s (the engine's default then applies), keeps vectors that must stay lists
#' (`clusters`) as JSON arrays, and expands paths.
#' @noRd
engine_options <- function(args, extra = list()) {
  if (length(extra) && (is.null(names(extra)) || any(!nzchar(names(extra))))) {
    cassia_abort("Extra arguments passed through `...` to the engine must be named.", class = "cassia_InputError")
  }
  args <- c(args, extra)
  args <- args[!vapply(args, is.null, logical(1))]
  if (!is.null(args$out_dir)) args$out_dir <- normalizePath(path.expand(args$out_dir), mustWork = FALSE)
  if (!is.null(args$clusters)) args$clusters <- I(as.character(args$clusters))
  for (name in names(args)) {
    value <- args[[name]]
    if (is.factor(value)) value <- as.character(value)
    if (!inherits(value, "AsIs") && length(value) != 1L) {
      cassia_abort(paste0("`", name, "` must be a single value (got ", length(value), ")."), class = "cassia_InputError")
    }
    if (!inherits(value, "AsIs") && is.na(value)) {
      cassia_abort(paste0("`", name, "` is NA; give a value or leave it out (NULL)."), class = "cassia_InputError")
    }
    args[[name]] <- value
  }
  if (length(args)) args else structure(list(), names = character(0))
}

#' Marker filters as the engine gets them
#'
#' `values` holds the filter arguments the user's call has (`NULL` or `NA` turns a filter off
#' and crosses as JSON null). Checked here so the message names the R argument.
#' @noRd
marker_filters <- function(values) {
  out <- lapply(names(values), function(name) {
    value <- values[[name]]
    if (is.null(value) || (length(value) == 1L && is.na(value))) return(NA)
    if (!is.numeric(value) || length(value) != 1L) {
      cassia_abort(paste0("`", name, "` must be a single number, or NULL to turn that filter off (got ",
                          paste(format(value), collapse = ", "), ")."), class = "cassia_InputError")
    }
    jsonlite::unbox(as.numeric(value))
  })
  names(out) <- names(values)
  if (length(out)) out else structure(list(), names = character(0))
}

#' The summary data frame of a run, carrying its run directory and manifest
#' @noRd
run_result <- function(result, markers_table = NULL) {
  summary <- bridge_frame(result$summary)
  attr(summary, "run_dir") <- result$run_dir
  attr(summary, "manifest") <- result$manifest
  if (!is.null(markers_table)) attr(summary, "markers") <- markers_table
  class(summary) <- c("cassia_result", "data.frame")
  summary
}

#' Run one engine verb on markers and return its summary
#'
#' Failed clusters are never quiet: a warning names them (an error when none succeeded).
#' @noRd
run_markers_verb <- function(verb, markers, options, filters, caller, cluster_col = NULL,
                             find_markers_args = list()) {
  prepared <- markers_request(markers, clusters = options$clusters, cluster_col = cluster_col,
                              find_markers_args = find_markers_args)
  result <- bridge_request("run", verb = verb, markers = prepared$request, options = options,
                           filters = marker_filters(filters), caller = caller,
                           arguments = verb_arguments(caller))
  if (!is.null(result$estimate)) return(cost_estimate(result))  # estimate_cost = TRUE: nothing was sent
  check_failures(run_result(result, prepared$table), caller)
}

#' A cost estimate as R returns it
#'
#' One row per stage (stage, provider, model, calls, input/output tokens, cost in US dollars);
#' the totals and the printed text in attributes. Nothing was sent to any backend.
#' @noRd
cost_estimate <- function(result) {
  table <- bridge_frame(result$estimate)
  attr(table, "totals") <- result$totals
  attr(table, "text") <- result$text
  class(table) <- c("cassia_cost_estimate", "data.frame")
  table
}

#' @export
print.cassia_cost_estimate <- function(x, ...) {
  cat(attr(x, "text"), "\n", sep = "")
  invisible(x)
}

# The R arguments of a verb, for the engine's "unknown argument" message.
verb_arguments <- function(caller) {
  I(setdiff(names(formals(get(caller, envir = asNamespace("CASSIA")))), "..."))
}

#' Warn about failed clusters; stop when nothing succeeded
#'
#' The warning names the failed clusters, their first reasons and how to finish the run
#' (`resume = TRUE` with the same `out_dir`). When every cluster failed the call is an error of
#' class `cassia_run_failed` carrying the result (`conditionCall` is NULL; `err$result` holds
#' the summary), so a script never continues with a table of failures.
#' @noRd
check_failures <- function(result, caller, runs = list(result)) {
  rows <- do.call(rbind, lapply(runs, function(run) {
    if (!nrow(run) || !"Status" %in% names(run)) return(NULL)
    data.frame(cluster = run[["Cluster ID"]], status = run[["Status"]],
               error = if ("Error" %in% names(run)) run[["Error"]] else NA_character_,
               stringsAsFactors = FALSE)
  }))
  if (is.null(rows) || !nrow(rows)) return(result)
  failed <- rows[!is.na(rows$status) & rows$status == "failed", , drop = FALSE]
  # Annotated, but a later step (e.g. scoring) failed: the answer stands, the gap is said.
  troubled <- rows[!is.na(rows$status) & rows$status != "failed" & !is.na(rows$error) & nzchar(rows$error), ,
                   drop = FALSE]
  if (nrow(troubled)) {
    warning(structure(class = c("cassia_step_failure", "warning", "condition"), list(
      message = paste0(length(unique(troubled$cluster)), " annotated cluster(s) have a failed step (",
                       paste0("\"", utils::head(unique(troubled$cluster), 10), "\"", collapse = ", "), "): ",
                       paste(utils::head(unique(troubled$error), 3), collapse = " | "),
                       ". Their annotation is kept; see the Error column."),
      call = NULL)))
  }
  if (!nrow(failed)) return(result)
  clusters <- unique(failed$cluster)
  reasons <- unique(stats::na.omit(failed$error))
  run_dir <- attr(result, "run_dir", exact = TRUE)
  resumable <- "resume" %in% names(formals(get(caller, envir = asNamespace("CASSIA"))))
  resume <- if (resumable) {
    paste0("Fix the cause, then call ", caller, "() again with resume = TRUE",
           if (!is.null(run_dir)) paste0(" and out_dir = \"", run_dir, "\"") else "",
           " to redo only the failed clusters.")
  } else {
    paste0("Fix the cause, then call ", caller, "() again.")
  }
  detail <- paste0(
    " (", paste0("\"", utils::head(clusters, 10), "\"", collapse = ", "),
    if (length(clusters) > 10) paste0(", ... ", length(clusters) - 10, " more") else "", "). ",
    if (length(reasons)) paste0("First reason", if (length(reasons) > 1) "s" else "", ": ",
                                paste(utils::head(reasons, 3), collapse = " | "), ". ") else ""
  )
  if (nrow(failed) == nrow(rows)) {
    cond <- structure(
      class = c("cassia_run_failed", "cassia_error", "error", "condition"),
      list(message = paste0("Every cluster failed", detail, resume), call = NULL, result = result)
    )
    stop(cond)
  }
  cond <- structure(
    class = c("cassia_partial_failure", "warning", "condition"),
    list(message = paste0(length(clusters), " of ", length(unique(rows$cluster)), " clusters failed", detail,
                          "Their rows have Status \"failed\". ", resume), call = NULL)
  )
  warning(cond)
  result
}

#' The run directory of a CASSIA result
#'
#' Every `runCASSIA_*()` result keeps the folder its run was written to (`manifest.json`,
#' `results.jsonl`, `transcripts/`, `summary.csv`, `report.html`).
#'
#' @param x A data frame returned by [runCASSIA_batch()], [runCASSIA_pipeline()] or
#'   [runCASSIA_score_batch()].
#' @return The run directory, a single character string.
#' @examples
#' res <- data.frame(x = 1)
#' attr(res, "run_dir") <- tempdir()
#' cassia_run_dir(res)
#' @export
cassia_run_dir <- function(x) {
  run_dir <- attr(x, "run_dir", exact = TRUE)
  if (is.null(run_dir)) {
    cassia_abort("This object carries no run directory: pass the data frame a runCASSIA_*() function returned.",
                 class = "cassia_InputError")
  }
  run_dir
}
