"""CASSIA: multi-agent LLM annotation of single-cell clusters.

Public API: data first, keyword-only options after; CASSIA-compatible names are thin aliases.
Importing this package has no side effects (no network, logging or environment changes).
"""

from __future__ import annotations

from .errors import (
    AuthError,
    CassiaError,
    ConfigError,
    InputError,
    MissingKeyError,
    ModelOutputError,
    ProviderError,
)
from .evaluate import (
    BenchmarkResult,
    Calibration,
    Grade,
    Judge,
    calibrate,
    grade,
    run_benchmark,
)
from .evaluate.simulate import SimulationResult, run_simulation
from .knowledge import call_cell_type, rank_cell_types
from .markers import (
    ClusterMarkers,
    MarkerFilters,
    MarkerSet,
    inspect_markers,
    load_markers,
)
from .markers.examples import example_markers_path, load_example_markers
from .providers import get_provider, set_api_key
from .rag import RagRetriever
from .version import __version__
from .writeback import AnnotationWarning
from .workflows.annotate_anndata import annotate_anndata
from .workflows.boost import BoostResult, query_genes, run_annotation_boost
from .workflows.consensus import run_consensus
from .workflows.ensemble import EnsembleResult, arun_ensemble, run_ensemble
from .workflows.merge import merge_annotations
from .workflows.pipeline import (
    RunResult,
    arun_batch,
    arun_pipeline,
    arun_score_batch,
    run_batch,
    run_pipeline,
    run_score_batch,
)
from .workflows.subcluster import SubclusterResult, arun_subclusters, run_subclusters
from .workflows.uncertainty import (
    UncertaintyResult,
    arun_uncertainty,
    run_n_times,
    run_uncertainty,
    score_runs,
)

# CASSIA-compatible names
runCASSIA_batch = run_batch
runCASSIA_pipeline = run_pipeline
runCASSIA_score_batch = run_score_batch
runCASSIA_annotationboost = run_annotation_boost
runCASSIA_subclusters = run_subclusters
runCASSIA_batch_n_times = run_n_times
runCASSIA_similarity_score_batch = score_runs
runCASSIA_ensemble = run_ensemble
symphonyCompare = run_ensemble
loadmarker = load_example_markers

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
