"""Uncertainty: how much n independent annotations of a cluster agree (the CS score).

``run_uncertainty`` makes n runs and scores them; ``run_n_times`` only makes the runs;
``score_runs`` scores runs that already exist. See :mod:`cassia.ontology.compare` for the
formula and :mod:`cassia.workflows.uncertainty.analysis` for how the three scores combine.
"""

from __future__ import annotations

from ...ontology.compare import Agreement, Weights, cl_key, similarity_score
from .analysis import ascore_runs, read_uncertainty, score_runs
from .api import arun_uncertainty, run_uncertainty
from .result import UNCERTAINTY_COLUMNS, ClusterUncertainty, RunVote, UncertaintyResult
from .runs import arun_n_times, run_n_times

# CASSIA-compatible names
runCASSIA_batch_n_times = run_n_times
runCASSIA_similarity_score_batch = score_runs

__all__ = [
    "Agreement",
    "ClusterUncertainty",
    "RunVote",
    "UNCERTAINTY_COLUMNS",
    "UncertaintyResult",
    "Weights",
    "arun_n_times",
    "arun_uncertainty",
    "ascore_runs",
    "cl_key",
    "read_uncertainty",
    "runCASSIA_batch_n_times",
    "runCASSIA_similarity_score_batch",
    "run_n_times",
    "run_uncertainty",
    "score_runs",
    "similarity_score",
]
