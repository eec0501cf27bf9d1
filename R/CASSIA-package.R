#' CASSIA: multi-agent LLM annotation of single-cell clusters
#'
#' A thin R front end to the CASSIA Python engine. Marker tables go to the engine as JSON
#' through one bridge; results come back as data frames and into Seurat objects.
#'
#' Main entry points: [runCASSIA_pipeline()] (annotate, score, report), [runCASSIA_batch()]
#' (annotate only), [runCASSIA_score_batch()], [annotate_clusters()] (Seurat object in,
#' annotated object out), [add_cassia_to_seurat()]. Further steps: [runCASSIA_annotationboost()],
#' [runCASSIA_subclusters()], [runCASSIA_batch_n_times()], [runCASSIA_uncertainty()],
#' [runCASSIA_similarity_score_batch()], [runCASSIA_consensus()], [merge_annotations()].
#' Set-up: [cassia_doctor()],
#' [cassia_install_engine()], [setLLMApiKey()]. The engine is found through
#' `options(cassia.python)`, `RETICULATE_PYTHON`, the project's `.venv`, or the virtualenv made
#' by [cassia_install_engine()]; nothing is imported when the package loads.
#'
#' @keywords internal
"_PACKAGE"
