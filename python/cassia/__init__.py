"""CASSIA: multi-agent LLM annotation of single-cell clusters.

Public API: data first, keyword-only options after; CASSIA-compatible names are thin aliases.
Importing this package has no side effects (no network, logging or environment changes).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    AuthError,
    CassiaError,
    ConfigError,
    InputError,
    MissingKeyError,
    ModelOutputError,
    ProviderError,
)
from .examples import example_markers_path, load_example_markers
from .markers import MarkerFilters, MarkerSet, load_markers
from .pipeline import (
    RunResult,
    arun_batch,
    arun_pipeline,
    arun_score_batch,
    run_batch,
    run_pipeline,
    run_score_batch,
)
from .providers import get_provider, set_api_key

# CASSIA-compatible names
runCASSIA_batch = run_batch
runCASSIA_pipeline = run_pipeline
runCASSIA_score_batch = run_score_batch
loadmarker = load_example_markers

__all__ = [
    "AuthError",
    "CassiaError",
    "ConfigError",
    "InputError",
    "MarkerFilters",
    "MarkerSet",
    "MissingKeyError",
    "ModelOutputError",
    "ProviderError",
    "RunResult",
    "__version__",
    "arun_batch",
    "arun_pipeline",
    "arun_score_batch",
    "example_markers_path",
    "get_provider",
    "load_example_markers",
    "load_markers",
    "loadmarker",
    "runCASSIA_batch",
    "runCASSIA_pipeline",
    "runCASSIA_score_batch",
    "run_batch",
    "run_pipeline",
    "run_score_batch",
    "set_api_key",
]
