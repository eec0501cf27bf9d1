"""Calibration of the Scorer's 0-100 quality score against graded correctness.

Two questions: how does correctness change with the score (accuracy per score band, rank
correlation, AUC), and which threshold should flag annotations for review? A threshold ``t``
flags every annotation with score < t as low quality. It makes two kinds of mistakes:

* **FP**: a correct annotation flagged low (wasted review, and a good call distrusted);
* **FN**: an incorrect annotation passed as high quality (an error that slips through).

:func:`calibrate` picks the ``t`` minimising ``w * FP + FN`` (``w = 2`` by default) and reports
the counts behind it. "Correct" means a grade of at least ``correct_at`` (0.5 by default: a
partially correct call, such as "T cell" for a CD8+ T cell, is not an error to flag).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from ..errors import InputError

BANDS = (0, 20, 40, 60, 70, 80, 90, 101)


@dataclass
class Calibration:
    threshold: float
    weight: float
    correct_at: float
    n: int
    correct: int
    fp: int  # correct annotations flagged low
    fn: int  # incorrect annotations passed high
    tp: int  # incorrect annotations flagged low
    tn: int  # correct annotations passed high
    cost: float
    auc: float | None  # probability a correct call outscores an incorrect one
    spearman: float | None  # rank correlation of score and grade
    bands: pd.DataFrame = field(repr=False)  # accuracy per score band
    curve: pd.DataFrame = field(repr=False)  # cost at every candidate threshold

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("bands", "curve")}

    def describe(self) -> str:
        return (f"threshold {self.threshold:g} minimises {self.weight:g}×FP + FN = {self.cost:g} "
                f"(FP {self.fp} correct flagged low, FN {self.fn} incorrect passed high, "
                f"{self.tp} incorrect flagged, {self.tn} correct passed; n={self.n}, correct={self.correct})")


def calibrate(scores: Sequence[float], grades: Sequence[float], *, weight: float = 2.0,
              correct_at: float = 0.5) -> Calibration:
    """Best review threshold for Scorer ``scores`` given graded correctness ``grades``.

    Pairs where either value is missing (unscored or ungraded) are left out. Candidate
    thresholds are 0, every distinct score, and 101 (flag everything); ties in cost go to the
    lower threshold (flag less).
    """
    if len(scores) != len(grades):
        raise InputError(f"scores and grades must have the same length ({len(scores)} != {len(grades)}).")
    if weight < 0:
        raise InputError(f"weight must be non-negative, got {weight}.")
    pairs = [(float(s), float(g)) for s, g in zip(scores, grades) if _present(s) and _present(g)]
    if not pairs:
        raise InputError("no annotation has both a score and a grade; run the pipeline (it scores) on graded data.")
    correct = [g >= correct_at for _, g in pairs]
    candidates = sorted({0.0, 101.0, *(s for s, _ in pairs)})
    curve = []
    for t in candidates:
        fp = sum(1 for (s, _), c in zip(pairs, correct) if c and s < t)
        fn = sum(1 for (s, _), c in zip(pairs, correct) if not c and s >= t)
        curve.append({"threshold": t, "fp": fp, "fn": fn, "cost": weight * fp + fn})
    curve_frame = pd.DataFrame(curve)
    best = min(curve, key=lambda row: (row["cost"], row["threshold"]))
    t = best["threshold"]
    n_correct = sum(correct)
    return Calibration(
        threshold=t, weight=weight, correct_at=correct_at, n=len(pairs), correct=n_correct,
        fp=best["fp"], fn=best["fn"],
        tp=sum(1 for (s, _), c in zip(pairs, correct) if not c and s < t),
        tn=sum(1 for (s, _), c in zip(pairs, correct) if c and s >= t),
        cost=best["cost"], auc=_auc(pairs, correct), spearman=_spearman(pairs),
        bands=_bands(pairs, correct), curve=curve_frame,
    )


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _bands(pairs, correct) -> pd.DataFrame:
    rows = []
    for low, high in zip(BANDS, BANDS[1:]):
        inside = [(g, c) for (s, g), c in zip(pairs, correct) if low <= s < high]
        rows.append({"band": f"{low}–{min(high, 100)}", "n": len(inside),
                     "mean_grade": round(sum(g for g, _ in inside) / len(inside), 3) if inside else None,
                     "correct_share": round(sum(c for _, c in inside) / len(inside), 3) if inside else None})
    return pd.DataFrame(rows)


def _auc(pairs, correct) -> float | None:
    """Mann-Whitney AUC from average ranks (ties count one half)."""
    n_good = sum(correct)
    n_bad = len(correct) - n_good
    if not n_good or not n_bad:
        return None
    ranks = pd.Series([s for s, _ in pairs]).rank()
    good_ranks = sum(r for r, c in zip(ranks, correct) if c)
    return round((good_ranks - n_good * (n_good + 1) / 2) / (n_good * n_bad), 4)


def _spearman(pairs) -> float | None:
    frame = pd.DataFrame(pairs, columns=["score", "grade"])
    if frame["score"].nunique() < 2 or frame["grade"].nunique() < 2:
        return None
    return round(float(frame["score"].rank().corr(frame["grade"].rank())), 4)
