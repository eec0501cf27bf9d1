"""Quality-score calibration on hand-made tables."""

from __future__ import annotations

import math

import pytest

from cassia.errors import InputError
from cassia.evaluate import calibrate


def test_threshold_minimises_weighted_errors_with_counts():
    scores = [95, 90, 85, 80, 72, 65, 60, 55, 40, 30]
    grades = [1, 1, 0.5, 1, 0, 1, 0, 0, 0, 0]
    cal = calibrate(scores, grades)  # w = 2
    # Scores below t are flagged. t = 65 flags 60, 55, 40, 30 (all incorrect) and passes 72
    # (incorrect): FP 0, FN 1, cost 1. t = 60 passes 60 too (cost 2); t = 72 flags 65, a
    # correct call (FP 1, FN 1, cost 3); t = 73 flags 72 as well (FP 1, FN 0, cost 2).
    assert (cal.threshold, cal.fp, cal.fn, cal.cost) == (65, 0, 1, 1)
    assert (cal.tp, cal.tn, cal.n, cal.correct) == (4, 5, 10, 5)
    assert 0.5 < cal.auc <= 1 and cal.spearman > 0


def test_weight_changes_the_choice():
    scores = [90, 70, 60, 50]
    grades = [1, 0, 1, 0]  # an error (70) scores above a correct call (60)
    # w = 2: flag below 60 (catch 50, pass 70): FP 0, FN 1, cost 1.
    assert (calibrate(scores, grades).threshold, calibrate(scores, grades).cost) == (60, 1)
    # When false alarms are cheap, flag below 90: both errors caught at the price of one FP.
    cheap = calibrate(scores, grades, weight=0.1)
    assert (cheap.threshold, cheap.fp, cheap.fn) == (90, 1, 0)


def test_missing_values_are_left_out_and_bands_report_accuracy():
    cal = calibrate([80, None, 30, float("nan"), 90], [1, 1, 0, 0.5, None])
    assert cal.n == 2
    bands = cal.bands.set_index("band")
    assert bands.loc["80–90", "correct_share"] == 1.0
    assert math.isnan(bands.loc["60–70", "correct_share"]) or bands.loc["60–70", "n"] == 0


def test_correct_at_full_only():
    cal = calibrate([90, 80, 70], [1, 0.5, 0], correct_at=1.0)
    assert cal.correct == 1


def test_bad_input():
    with pytest.raises(InputError):
        calibrate([1, 2], [1])
    with pytest.raises(InputError):
        calibrate([None], [None])
