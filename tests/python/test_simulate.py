"""The mixed-population simulation: the mixing rule and a small offline run."""

from __future__ import annotations

import pandas as pd
import pytest
from cassia.errors import InputError
from cassia.evaluate.simulate import (
    build_mixtures,
    mix_markers,
    reference_summary,
    run_simulation,
)

A = [f"A{i}" for i in range(1, 21)]
B = [f"B{i}" for i in range(1, 21)]


def test_interleaves_the_top_of_each_list():
    assert mix_markers(A, B, share=0.5, n=6) == ["A1", "B1", "A2", "B2", "A3", "B3"]


@pytest.mark.parametrize("share, n, n_a", [(0.8, 10, 8), (0.7, 10, 7), (0.6, 30, 18), (0.8, 50, 40), (0.7, 70, 49)])
def test_shares_take_that_part_of_each_list(share, n, n_a):
    mixed = mix_markers(A * 1 + [f"A{i}" for i in range(21, 80)], B + [f"B{i}" for i in range(21, 80)], share=share, n=n)
    assert len(mixed) == n
    from_a = [g for g in mixed if g.startswith("A")]
    assert len(from_a) == n_a
    assert from_a == [f"A{i}" for i in range(1, n_a + 1)]  # the top of A, in rank order
    # interleaved while both lists last, then A's tail
    n_b = n - n_a
    assert mixed[: 2 * n_b] == [g for pair in zip(from_a, [f"B{i}" for i in range(1, n_b + 1)]) for g in pair]


def test_shared_genes_are_not_repeated():
    mixed = mix_markers(["X", "A2", "A3"], ["X", "B2", "B3"], share=0.5, n=4)
    assert mixed == ["X", "B2", "A2", "B3"] and len(set(mixed)) == 4


def test_bad_arguments():
    with pytest.raises(InputError):
        mix_markers(A, B, share=1.0, n=10)
    with pytest.raises(InputError):
        mix_markers(A, B, share=0.5, n=1)


def test_pairs_from_different_categories_only():
    markers = {"t": A, "cd8": A, "b": B}
    labels = {"t": "T cell", "cd8": "CD8-positive, alpha-beta T cell", "b": "B cell"}
    table = build_mixtures(markers, labels, shares=(0.5, 0.8), sizes=(10,))
    pairs = set(zip(table["a"], table["b"]))
    assert ("t", "cd8") not in pairs and ("cd8", "t") not in pairs  # same category: not mixed
    half = table[table["share"] == 0.5]
    assert len(half) == 2  # one per unordered pair (t+b, cd8+b)
    assert len(table[table["share"] == 0.8]) == 4  # both orders
    with pytest.raises(InputError):
        build_mixtures({"x": A}, {}, sizes=(10,))


def test_small_offline_run(tmp_path):
    genes = {
        "T": ["CD3D", "CD3E", "CD2", "IL7R", "LTB", "CD3G", "TRAC", "CD247", "CD5", "CD6", "CD7", "LCK"],
        "B": ["MS4A1", "CD79A", "CD79B", "CD19", "BANK1", "PAX5", "CD22", "FCER2", "TCL1A", "VPREB3", "BLK", "FCRLA"],
    }
    table = pd.DataFrame({"cluster": list(genes), "markers": [", ".join(g) for g in genes.values()]})
    result = run_simulation(table, {"T": "T cell", "B": "B cell"}, out_dir=tmp_path / "sim", provider="offline",
                            tissue="blood", shares=(0.5, 0.8), sizes=(10,))
    assert len(result.mixtures) == 3  # T+B at 50:50, T over B and B over T at 80:20
    assert (result.mixtures["status"] == "ok").all()
    assert set(result.table["share"]) == {"50:50", "80:20"}
    assert result.table["dominant_right"].between(0, 1).all()
    assert (tmp_path / "sim" / "simulation.csv").exists()
    html = (tmp_path / "sim" / "simulation.html").read_text()
    assert "<svg" in html and "80" in html


def test_reference_summary_counts():
    frame = pd.DataFrame({"set": ["random genes"] * 4, "unknown": [True, False, False, False],
                          "low_score": [False, True, False, True]})
    row = reference_summary(frame).iloc[0]
    assert (row["unknown"], row["low_score"], row["unknown_or_low"]) == (0.25, 0.5, 0.75)
