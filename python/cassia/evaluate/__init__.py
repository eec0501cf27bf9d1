"""Evaluation: grading on the Cell Ontology, the accuracy benchmark, score calibration.

>>> from cassia.evaluate import grade
>>> grade("CD8+ T cells", "CL:0000625").score          # doctest: +SKIP
1.0

- :func:`grade` / :class:`Grade`: one prediction against a gold label (rules in :data:`RULES`).
- :class:`Judge`: optional LLM judge for names the ontology cannot map.
- :func:`run_benchmark` / :class:`BenchmarkResult`: annotate a labelled table, grade, write
  per-dataset and per-tissue accuracy, a marker-count sweep and an HTML summary.
- :func:`calibrate` / :class:`Calibration`: Scorer score vs correctness, best review threshold.
- :func:`grader_agreement` / :class:`Agreement`: the grader against human grades (GPTCelltype).
- :func:`category_of`: the broad category of a CL term used for partial credit.
"""

from __future__ import annotations

from .agreement import Agreement, grader_agreement
from .calibrate import Calibration, calibrate
from .categories import CATEGORIES, FAMILIES, Category, category_of
from .grade import RULES, Grade, grade
from .harness import run_benchmark
from .judge import Judge, JudgeVerdict
from .outputs import BenchmarkResult, accuracy_table

__all__ = [
    "Agreement",
    "BenchmarkResult",
    "CATEGORIES",
    "Calibration",
    "Category",
    "FAMILIES",
    "Grade",
    "Judge",
    "JudgeVerdict",
    "RULES",
    "accuracy_table",
    "calibrate",
    "category_of",
    "grade",
    "grader_agreement",
    "run_benchmark",
]
