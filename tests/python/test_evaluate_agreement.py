"""The grader against the human grades of the GPTCelltype development benchmark.

Measured (benchmarks/grader_agreement.py): 90.6 % exact agreement with the gold given as the
curated CL ID where there is one, 90.0 % with the gold as the manual label text. The floors
sit slightly below so that a regression in the mapper or the rules fails here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cassia.evaluate import grader_agreement

DEV = Path("../shared/data/gptcelltype/benchmark_dev.csv")


@pytest.fixture(scope="module")
def dev() -> pd.DataFrame:
    assert DEV.exists(), f"{DEV} is missing: run the tests from the repository root"
    return pd.read_csv(DEV)


def test_agreement_with_human_grades_stays_above_the_floor(dev):
    result = grader_agreement(dev, gold="id")
    assert result.n == 3627  # every (cluster, method) pair the people graded
    assert result.overall >= 0.89, result.per_method()
    assert result.coverage >= 0.95
    per_method = result.per_method().set_index("method")
    assert (per_method["agreement"] >= 0.80).all(), per_method
    confusion = result.confusion()
    assert confusion.loc["1", "1"] > confusion.loc["1"].drop("1").sum()  # full matches are found


def test_agreement_with_label_text_gold(dev):
    result = grader_agreement(dev, gold="label")
    assert result.overall >= 0.88
    assert set(result.rule_table().index) >= {"same_term", "same_category", "different_category", "no_call"}
