"""Drives the installed R package CASSIA end to end through rpy2, as an R user would.

R is embedded in this process by rpy2; CASSIA's R code then reaches the engine through
reticulate, which attaches to this same Python. Needs R, the CASSIA R package (installed by
scripts/setup.sh) and rpy2; missing pieces fail the test rather than skip it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "inst" / "extdata" / "pbmc_small_markers.csv"


@pytest.fixture(scope="module")
def r():
    # Set before R starts: CASSIA finds the engine through it (this very interpreter).
    os.environ.setdefault("RETICULATE_PYTHON", sys.executable)
    import rpy2.robjects as robjects
    from rpy2.robjects.packages import importr

    importr("CASSIA")  # fails clearly when the R package is not installed
    return robjects.r


def test_run_pipeline_from_r_returns_every_cluster(r, tmp_path):
    out_dir = tmp_path / "run"
    res = r["runCASSIA_pipeline"](
        str(EXAMPLE), tissue="peripheral blood", species="human", provider="offline",
        out_dir=str(out_dir), progress=False,
    )
    assert list(r["class"](res)) == ["data.frame"]
    columns = list(r["names"](res))
    assert columns[:4] == ["Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type",
                           "Possible Mixed Cell Types"]
    clusters = list(r["[["](res, "Cluster ID"))
    expected = sorted(pd.read_csv(EXAMPLE)["cluster"].astype(str).unique())
    assert sorted(clusters) == expected
    general = list(r["[["](res, "Predicted General Cell Type"))
    assert all(isinstance(g, str) and g and g != "NA" for g in general)
    scores = list(r["[["](res, "Score"))
    assert all(0 <= s <= 100 for s in scores)
    assert (out_dir / "summary.csv").is_file()
    assert list(r["cassia_run_dir"](res))[0] == str(out_dir)
