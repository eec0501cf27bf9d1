"""``cassia.benchmark``: the accuracy benchmark harness (an alias of :mod:`cassia.evaluate`'s harness).

>>> from cassia.benchmark import run_benchmark   # doctest: +SKIP
"""

from __future__ import annotations

from .evaluate.calibrate import Calibration, calibrate
from .evaluate.harness import run_benchmark
from .evaluate.outputs import BenchmarkResult, accuracy_table

__all__ = ["BenchmarkResult", "Calibration", "accuracy_table", "calibrate", "run_benchmark"]
