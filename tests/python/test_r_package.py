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
    assert list(r["class"](res)) == ["cassia_result", "data.frame"]
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


# ---------------------------------------------------------------- the bridge's Python side alone

def _ask(request: dict) -> dict:
    import json

    from cassia.rbridge import handle

    return json.loads(handle(json.dumps(request)))


def _columnar(tmp_path, columns: dict) -> dict:
    """A table as R's bridge_table() writes it: one little-endian binary file per column."""
    import numpy as np

    entries = []
    for i, (name, (kind, values, levels)) in enumerate(columns.items()):
        path = tmp_path / f"{i}.bin"
        np.asarray(values, dtype="<f8" if kind == "double" else "<i4").tofile(path)
        entry = {"name": name, "type": kind, "file": str(path)}
        if levels is not None:
            entry["levels"] = levels
        entries.append(entry)
    return {"columnar": {"rows": len(next(iter(columns.values()))[1]), "columns": entries}}


def test_bridge_rebuilds_r_tables_exactly_and_types_the_answer(tmp_path):
    na = -(2**31)
    table = _columnar(tmp_path, {
        "cluster": ("character", [1, 0], ["10", "1"]),
        "lfc": ("double", [0.1 + 0.2, float("inf")], None),
        "n": ("integer", [1, na], None),
        "ok": ("logical", [1, na], None),
        "gene": ("character", [0, na], ["Δgène"]),
    })
    answer = _ask({"op": "roundtrip", "table": table})
    assert answer["ok"] is True
    result = answer["result"]
    assert result["columns"] == ["cluster", "lfc", "n", "ok", "gene"]
    assert result["types"] == ["character", "double", "double", "logical", "character"]
    assert result["data"][0] == ["1", "10"]
    assert result["data"][1] == [0.1 + 0.2, "Infinity"]
    assert result["data"][2] == [1.0, None]
    assert result["data"][3] == [True, None]
    assert result["data"][4] == ["Δgène", None]


def test_bridge_errors_are_answers_with_the_engine_message():
    answer = _ask({"op": "run", "verb": "batch", "markers": {"path": "/no/such/file.csv"},
                   "options": {"provider": "offline", "progress": False}})
    assert answer["ok"] is False
    assert answer["error"]["type"] == "InputError"
    assert "/no/such/file.csv" in answer["error"]["message"]
    assert "Traceback" not in answer["error"]["message"]
    assert _ask({"op": "nope"})["error"]["type"] == "InputError"


def test_bridge_subprocess_entry_takes_keys_from_the_environment_not_the_file(tmp_path, monkeypatch):
    import json

    from cassia import rbridge

    secret = "sk-bridge-secret-0123456789"
    request = tmp_path / "request.json"
    answer = tmp_path / "answer.json"
    request.write_text(json.dumps({"op": "set_api_key", "provider": "deepseek"}), encoding="utf-8")
    monkeypatch.setenv("CASSIA_BRIDGE_SECRETS", json.dumps({"api_key": secret}))
    assert rbridge.main(["--request", str(request), "--answer", str(answer)]) == 0
    result = json.loads(answer.read_text(encoding="utf-8"))
    assert result == {"ok": True, "result": {"env_var": "DEEPSEEK_API_KEY"}}
    assert "CASSIA_BRIDGE_SECRETS" not in os.environ  # consumed on arrival
    assert secret not in answer.read_text(encoding="utf-8")
