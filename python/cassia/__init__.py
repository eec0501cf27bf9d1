"""CASSIA: multi-agent LLM annotation of single-cell clusters.

Public API: data first, keyword-only options after; CASSIA-compatible names are thin aliases.
Importing this package has no side effects (no network, logging or environment changes) and
is cheap: each public name is imported from its module on first use (PEP 562), so ``cassia
annotate`` does not pay for pandas-heavy evaluation code it never calls.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    AuthError,
    CassiaError,
    ConfigError,
    InputError,
    MissingKeyError,
    ModelOutputError,
    ProviderError,
)
from .version import __version__

# Where each lazily imported public name lives.
_EXPORTS: dict[str, tuple[str, ...]] = {
    ".evaluate": ("BenchmarkResult", "Calibration", "Grade", "Judge", "calibrate", "grade", "run_benchmark"),
    ".evaluate.simulate": ("SimulationResult", "run_simulation"),
    ".knowledge": ("call_cell_type", "rank_cell_types"),
    ".markers": ("ClusterMarkers", "MarkerFilters", "MarkerSet", "inspect_markers", "load_markers"),
    ".markers.examples": ("example_markers_path", "load_example_markers"),
    ".providers": ("get_provider", "set_api_key"),
    ".rag": ("RagRetriever",),
    ".writeback": ("AnnotationWarning",),
    ".workflows.annotate_anndata": ("annotate_anndata",),
    ".workflows.boost": ("BoostResult", "query_genes", "run_annotation_boost"),
    ".workflows.consensus": ("run_consensus",),
    ".workflows.ensemble": ("EnsembleResult", "arun_ensemble", "run_ensemble"),
    ".workflows.merge": ("merge_annotations",),
    ".workflows.pipeline": ("RunResult", "arun_batch", "arun_pipeline", "arun_score_batch", "run_batch",
                            "run_pipeline", "run_score_batch"),
    ".workflows.subcluster": ("SubclusterResult", "arun_subclusters", "run_subclusters"),
    ".workflows.uncertainty": ("UncertaintyResult", "arun_uncertainty", "run_n_times", "run_uncertainty",
                               "score_runs"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

# CASSIA-compatible names: the same objects as their snake_case twins.
_ALIASES = {
    "runCASSIA_batch": "run_batch",
    "runCASSIA_pipeline": "run_pipeline",
    "runCASSIA_score_batch": "run_score_batch",
    "runCASSIA_annotationboost": "run_annotation_boost",
    "runCASSIA_subclusters": "run_subclusters",
    "runCASSIA_batch_n_times": "run_n_times",
    "runCASSIA_similarity_score_batch": "score_runs",
    "runCASSIA_ensemble": "run_ensemble",
    "symphonyCompare": "run_ensemble",
    "loadmarker": "load_example_markers",
}


def __getattr__(name: str) -> Any:
    target = _ALIASES.get(name, name)
    module = _HOME.get(target)
    if module is None:
        raise AttributeError(f"module 'cassia' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), target)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AnnotationWarning",
    "AuthError",
    "BenchmarkResult",
    "BoostResult",
    "Calibration",
    "CassiaError",
    "ClusterMarkers",
    "ConfigError",
    "EnsembleResult",
    "Grade",
    "InputError",
    "Judge",
    "MarkerFilters",
    "MarkerSet",
    "MissingKeyError",
    "ModelOutputError",
    "ProviderError",
    "RagRetriever",
    "RunResult",
    "SimulationResult",
    "SubclusterResult",
    "UncertaintyResult",
    "__version__",
    "annotate_anndata",
    "arun_batch",
    "arun_ensemble",
    "arun_pipeline",
    "arun_score_batch",
    "arun_subclusters",
    "arun_uncertainty",
    "calibrate",
    "call_cell_type",
    "example_markers_path",
    "get_provider",
    "grade",
    "inspect_markers",
    "load_example_markers",
    "load_markers",
    "loadmarker",
    "merge_annotations",
    "query_genes",
    "rank_cell_types",
    "runCASSIA_annotationboost",
    "runCASSIA_batch",
    "runCASSIA_batch_n_times",
    "runCASSIA_ensemble",
    "runCASSIA_pipeline",
    "runCASSIA_score_batch",
    "runCASSIA_similarity_score_batch",
    "runCASSIA_subclusters",
    "run_annotation_boost",
    "run_batch",
    "run_benchmark",
    "run_consensus",
    "run_ensemble",
    "run_n_times",
    "run_pipeline",
    "run_score_batch",
    "run_simulation",
    "run_subclusters",
    "run_uncertainty",
    "score_runs",
    "set_api_key",
    "symphonyCompare",
]
