"""Selection: filters, rankings, n_genes, the result objects, and the caller's data left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cassia.errors import InputError
from cassia.markers import ClusterMarkers, MarkerFilters, MarkerSet, inspect_markers, load_markers

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers"
PBMC = DATA / "pbmc3k_findallmarkers.csv"
INTESTINE = DATA / "large_intestine_findallmarkers.csv"
NO_FILTERS = MarkerFilters(None, None, None)


@pytest.fixture(scope="module")
def pbmc() -> pd.DataFrame:
    return pd.read_csv(PBMC)


def passing(part: pd.DataFrame) -> pd.DataFrame:
    return part[(part["p_val_adj"] < 0.05) & (part["avg_log2FC"] > 0.25) & (part["pct.1"] >= 0.1)]


def test_rank_by_p_val_adj_breaks_ties_by_fold_change():
    table = pd.read_csv(INTESTINE)
    ms = load_markers(INTESTINE, ranking="p_val_adj", n_genes=60)
    name = "monocyte (inaccurate annotation)"
    part = passing(table[table["cluster"] == name])
    assert (part["p_val_adj"] == 0).sum() > 60  # ties are real here, so the tie-break matters
    expected = part.sort_values(["p_val_adj", "avg_log2FC"], ascending=[True, False], kind="mergesort")
    assert list(ms[name].genes) == expected["gene"].head(60).tolist()
    assert list(ms[name].genes) != part[part["p_val_adj"] == 0]["gene"].head(60).tolist()


def test_rank_by_pct_diff(pbmc):
    ms = load_markers(pbmc, ranking="pct_diff", n_genes=25)
    part = passing(pbmc[pbmc["cluster"] == 5]).assign(d=lambda t: t["pct.1"] - t["pct.2"])
    expected = part.sort_values(["d", "avg_log2FC"], ascending=[False, False], kind="mergesort")
    assert ms.ranking == "pct_diff"
    assert list(ms["5"].genes) == expected["gene"].head(25).tolist()


def test_rank_by_a_score_column_and_p_val(pbmc):
    rng = np.random.default_rng(7)
    scored = pbmc.assign(score=rng.normal(size=len(pbmc)))
    ms = load_markers(scored, ranking="score", n_genes=10)
    part = passing(scored[scored["cluster"] == 0])
    expected = part.sort_values("score", ascending=False, kind="mergesort")["gene"].head(10).tolist()
    assert list(ms["0"].genes) == expected
    by_p = load_markers(pbmc, ranking="p_val", n_genes=10)
    assert by_p.ranking == "p_val"
    first = by_p["1"].stats.set_index("gene").loc[list(by_p["1"].genes), "p_val"]
    assert first.is_monotonic_increasing


def test_default_ranking_orders_by_fold_change_and_honours_n_genes(pbmc):
    ms = load_markers(pbmc, n_genes=7)
    for cm in ms:
        fc = cm.stats.set_index("gene").loc[list(cm.genes), "avg_log2FC"]
        assert len(cm.genes) == 7 and fc.is_monotonic_decreasing


def test_filters_select_and_none_disables(pbmc):
    strict = load_markers(pbmc, n_genes=10_000,
                          filters=MarkerFilters(max_p_val_adj=1e-10, min_log2fc=1.0, min_pct1=0.5))
    for cm in strict:
        chosen = cm.stats[cm.stats["selected"]]
        assert (chosen["p_val_adj"] < 1e-10).all() and (chosen["avg_log2FC"] > 1).all()
        assert (chosen["pct.1"] >= 0.5).all()
        assert cm.stats["selected"].equals(cm.stats["passes_filters"])  # n is large: all passing chosen
    everything = load_markers(pbmc, n_genes=10_000, filters=NO_FILTERS)
    assert sum(len(cm.genes) for cm in everything) == len(pbmc)


def test_inf_fold_change_ranks_first():
    table = pd.DataFrame({"cluster": ["a"] * 4, "gene": ["G1", "G2", "G3", "G4"],
                          "avg_log2FC": [2.0, np.inf, -np.inf, 5.0], "p_val_adj": [0.0] * 4,
                          "pct.1": [0.5] * 4, "pct.2": [0.1] * 4})
    assert load_markers(table)["a"].genes == ("G2", "G4", "G1")
    assert load_markers(table, filters=NO_FILTERS)["a"].genes == ("G2", "G4", "G1", "G3")


def test_caller_frame_is_never_modified(pbmc):
    frame = pbmc.assign(cluster=pd.Categorical(pbmc["cluster"]), note="x").iloc[::-1]
    frame["myAUC"] = [str(v) for v in np.linspace(0, 1, len(frame))]  # numbers held as text
    snapshot = frame.copy(deep=True)
    ms = load_markers(frame, ranking="pct_diff")
    load_markers(frame, ranking="myAUC")
    inspect_markers(frame, n_genes=3)
    pd.testing.assert_frame_equal(frame, snapshot)
    assert frame.index.equals(snapshot.index)
    stats = ms["0"].stats
    stats.loc[0, "avg_log2FC"] = -99.0  # results are copies too, also of the run's shared table
    assert (frame["avg_log2FC"] != -99.0).all() and ms["0"].stats.loc[0, "avg_log2FC"] != -99.0


def test_lookup_is_case_insensitive_and_reports_absent_genes(pbmc):
    cm = load_markers(pbmc)["0"]
    found = cm.lookup(["il7r", "NOT_A_GENE", "CCR7"])
    assert found["query"].tolist() == ["il7r", "NOT_A_GENE", "CCR7"]
    assert found["found"].tolist() == [True, False, True]
    assert found.loc[0, "gene"] == "IL7R"
    row = pbmc[(pbmc["cluster"] == 0) & (pbmc["gene"] == "IL7R")].iloc[0]
    assert found.loc[0, "avg_log2FC"] == pytest.approx(row["avg_log2FC"])
    assert np.isnan(found.loc[1, "avg_log2FC"])
    assert cm.lookup("ccr7")["found"].tolist() == [True]


def test_marker_set_api(pbmc):
    ms = load_markers(pbmc, n_genes=5)
    assert len(ms) == 9 and ms.cluster_ids() == [str(i) for i in range(9)]
    assert [cm.cluster for cm in ms] == ms.cluster_ids()
    assert isinstance(ms["3"], ClusterMarkers) and "3" in ms and "99" not in ms
    with pytest.raises(KeyError, match="no cluster '99'"):
        ms["99"]
    frame = ms.to_frame()
    assert list(frame.columns) == ["cluster", "markers", "n_markers"]
    assert frame.loc[3, "markers"].split(", ") == list(ms["3"].genes)
    assert frame["n_markers"].tolist() == [5] * 9
    small = ms.subset(["7", "1"])
    assert isinstance(small, MarkerSet) and small.cluster_ids() == ["1", "7"]
    with pytest.raises(InputError, match="unknown cluster"):
        ms.subset(["1", "nope"])
    table = ms.full_table()
    assert len(table) == len(pbmc) and table.columns[0] == "cluster"


def test_inspect_reports_counts_and_emptied_clusters_without_raising():
    maxima = pd.read_csv(INTESTINE).groupby("cluster", sort=False)["avg_log2FC"].max().sort_values()
    cut = float((maxima.iloc[0] + maxima.iloc[1]) / 2)  # empties exactly the weakest cluster
    report = inspect_markers(INTESTINE, filters=MarkerFilters(min_log2fc=cut))
    assert report["format"] == "seurat" and report["n_rows"] == 31313 and report["n_clusters"] == 6
    assert report["usable"] is False and len(report["problems"]) == 1
    emptied = maxima.index[0]
    assert repr(emptied) in report["problems"][0] and "min_log2fc" in report["problems"][0]
    row = next(c for c in report["clusters"] if c["cluster"] == emptied)
    assert row["after_filters"] == 0 and row["selected"] == 0 and row["genes"] == []
    assert row["removed_by"]["avg_log2FC"] == row["rows"]
    with pytest.raises(InputError, match="no genes left after filtering") as err:
        load_markers(INTESTINE, filters=MarkerFilters(min_log2fc=cut))
    assert repr(emptied) in str(err.value) and "removed" in str(err.value)
    fine = inspect_markers(INTESTINE, n_genes=3)
    assert fine["usable"] and all(c["selected"] == 3 and len(c["genes"]) == 3 for c in fine["clusters"])
