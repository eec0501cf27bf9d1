"""The benchmark harness end to end: offline backend and the fake server, resume and cache."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cassia.benchmark import run_benchmark as alias
from cassia.errors import InputError
from cassia.evaluate import run_benchmark
from cassia.evaluate.harness import regrade

TABLE = pd.DataFrame({
    "dataset": ["blood", "blood", "blood", "gut", "gut"],
    "tissue": ["PBMC", "PBMC", "PBMC", "colon", "colon"],
    "marker": [
        "CD3D, CD3E, CD2, IL7R, LTB, CD8A, CD8B, GZMK, CCL5, NKG7, CD27, CD28",
        "MS4A1, CD79A, CD79B, CD19, BANK1, CD74, HLA-DRA, TCL1A, FCER2, IGHM, CD22, PAX5",
        "LYZ, CD14, S100A8, S100A9, FCN1, VCAN, CST3, CSF1R, CD68, FCGR1A, MNDA, LST1",
        "EPCAM, KRT8, KRT18, KRT20, CDH17, VIL1, FABP1, CA2, SLC26A3, AQP8, CEACAM5, LGALS4",
        "COL1A1, COL1A2, COL3A1, DCN, LUM, PDGFRA, FBLN1, SFRP2, MMP2, PDGFRB, THY1, C7",
    ],
    "gold": ["CD8-positive, alpha-beta T cell", "CL:0000236", "classical monocyte", "colonocyte", "fibroblast"],
    "other_method": ["T cell", "B cell", "macrophage", "neuron", None],
})


def test_offline_end_to_end(tmp_path):
    out = tmp_path / "bench"
    result = run_benchmark(TABLE, provider="offline", mode="pipeline", out_dir=out,
                           n_genes_sweep=[5, 10, 30], compare_labels={"other": "other_method"})
    graded = result.graded
    own = graded[graded["method"] == "offline"]
    assert len(own) == 5 and (own["status"] == "ok").all()
    assert own["score"].notna().all()
    assert own["score"].mean() >= 0.5  # clear-cut marker lists
    assert own["quality_score"].notna().all()  # pipeline mode scores
    assert set(result.by_dataset["dataset"]) == {"blood", "gut"}
    assert set(result.by_tissue["tissue"]) == {"PBMC", "colon"}
    row = result.by_method.set_index("method").loc["offline"]
    assert row["clusters"] == 5 and row["fully"] + row["partially"] + row["incorrect"] == pytest.approx(1)
    other = graded[graded["method"] == "other"].set_index("cluster")
    assert other["score"].tolist()[:4] == [0.5, 1.0, 0.5, 0.0] and other["rule"].iloc[4] == "no_call"
    # marker-count sweep: 30 genes is more than any row has, so it is recorded as not run.
    sweep = result.sweep.set_index("n_genes")
    assert sweep.loc[5, "clusters"] == 5 and sweep.loc[30, "clusters"] == 0
    assert result.calibration is not None and result.calibration.n == 5
    for name in ("graded.csv", "by_dataset.csv", "by_tissue.csv", "by_method.csv", "sweep.csv",
                 "calibration_curve.csv", "summary.json", "report.html"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"]["clusters"] == 5 and summary["calibration"]["n"] == 5
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 3 and "Scorer score by grade" in html and "<script>alert" not in html
    # Resumable: a second call on the same folder reuses the runs and gives the same grades.
    again = run_benchmark(TABLE, provider="offline", mode="pipeline", out_dir=out, report=False)
    assert again.graded[again.graded["method"] == "offline"]["score"].tolist() == own["score"].tolist()
    # Another grading of the same answers without a new run.
    general = regrade(own, "general")
    assert general["score"].notna().all()


def test_through_the_fake_server_with_cache(fake_server, tmp_path):
    cache = tmp_path / "cache.sqlite"
    small = TABLE.head(3)
    result = alias(small, provider=fake_server.url, model="fake-model", mode="batch", out_dir=tmp_path / "b1",
                   cache_path=cache, gold_col="gold")
    graded = result.graded
    # The fake model answers "T cell" for everything.
    assert graded["predicted_general"].tolist() == ["T cell"] * 3
    assert graded["score"].tolist() == [0.5, 0.0, 0.0]
    assert graded["tokens"].gt(0).all()
    calls = len(fake_server.requests)
    assert calls >= 6  # annotator and review per cluster
    # A fresh benchmark folder with the same cache makes no new call.
    rerun = alias(small, provider=fake_server.url, model="fake-model", mode="batch", out_dir=tmp_path / "b2",
                  cache_path=cache, report=False)
    assert len(fake_server.requests) == calls
    assert rerun.graded["score"].tolist() == [0.5, 0.0, 0.0]


def test_findallmarkers_table_with_gold_map(tmp_path):
    rows = []
    for cluster, genes in {"0": ["CD3D", "CD3E", "IL7R", "CD2", "LTB"], "1": ["MS4A1", "CD79A", "CD79B", "BANK1", "CD19"]}.items():
        rows += [{"cluster": cluster, "gene": g, "avg_log2FC": 3 - i * 0.1, "p_val_adj": 1e-10, "pct.1": 0.9,
                  "pct.2": 0.1, "p_val": 1e-12} for i, g in enumerate(genes)]
    result = run_benchmark(pd.DataFrame(rows), provider="offline", out_dir=tmp_path / "fam",
                           gold_map={"0": "T cell", 1: "B cell"}, tissue="blood", dataset="pbmc", report=False)
    graded = result.graded.set_index("cluster")
    assert graded.loc["1", "score"] == 1.0
    assert graded.loc["0", "score"] >= 0.5  # a T cell subtype for "T cell"
    assert set(graded["gold"]) == {"T cell", "B cell"} and (graded["n_genes"] == 5).all()
    assert set(result.by_dataset["dataset"]) == {"pbmc"}


def test_input_errors(tmp_path):
    with pytest.raises(InputError, match="marker"):
        run_benchmark(TABLE.drop(columns=["marker"]), provider="offline", out_dir=tmp_path / "x")
    with pytest.raises(InputError, match="gold_map"):
        run_benchmark(pd.DataFrame({"cluster": ["0"], "gene": ["CD3D"]}), provider="offline",
                      out_dir=tmp_path / "y", gold_map={"1": "T cell"})
    with pytest.raises(InputError, match="mode"):
        run_benchmark(TABLE, provider="offline", out_dir=tmp_path / "z", mode="fast")
