"""Multi-model ensembles: several LLMs annotate every cluster; they discuss only where they disagree.

``run_ensemble`` (:mod:`.api`) runs every model (:mod:`.spec` says how models are named), measures
their agreement on the Cell Ontology (:mod:`.vote`), sends the clusters without a clear consensus
to deliberation and an arbiter (:mod:`.discuss`) and writes the ensemble table and report
(:mod:`.result`).
"""

from __future__ import annotations

from .api import arun_ensemble, default_ensemble_dir, run_ensemble
from .result import (
    ENSEMBLE_COLUMNS,
    MODEL_COLUMNS,
    ClusterEnsemble,
    EnsembleResult,
    ModelAnswer,
    read_ensemble,
)
from .spec import ModelSpec, parse_spec, resolve_models

# CASSIA-compatible names
runCASSIA_ensemble = run_ensemble
symphonyCompare = run_ensemble

__all__ = [
    "ClusterEnsemble",
    "ENSEMBLE_COLUMNS",
    "EnsembleResult",
    "MODEL_COLUMNS",
    "ModelAnswer",
    "ModelSpec",
    "arun_ensemble",
    "default_ensemble_dir",
    "parse_spec",
    "read_ensemble",
    "resolve_models",
    "runCASSIA_ensemble",
    "run_ensemble",
    "symphonyCompare",
]
