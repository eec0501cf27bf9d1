"""Deterministic consensus across finished runs: majority after ontology unification, statuses."""

from __future__ import annotations

import pandas as pd
import pytest
from cassia.errors import InputError
from cassia.workflows.consensus import (
    CONSENSUS_COLUMNS,
    consensus,
    run_consensus,
    vote_status,
)


def summary(rows):
    return pd.DataFrame([{"Cluster ID": c, "Predicted General Cell Type": g, "Predicted Detailed Cell Type": s,
                          "Status": st} for c, g, s, st in rows])


MODELS = {
    "gpt": summary([("0", "T cells", "CD8+ T cells", "ok"), ("1", "B cell", "Naive B cell", "ok"),
                    ("2", "Monocyte", None, "ok"), ("3", "Hepatocyte", None, "ok"), ("4", None, None, "failed")]),
    "claude": summary([("0", "T cell", "CD8-positive, alpha-beta T cell", "ok"), ("1", "B cells", "Memory B cell", "ok"),
                       ("2", "Macrophage", None, "ok"), ("3", None, None, "failed"), ("4", None, None, "failed")]),
    "gemini": summary([("0", "T-cell", "CD8 T cell", "ok"), ("1", "B cell", "Naive B cells", "ok"),
                       ("2", "Macrophage", None, "ok"), ("3", None, None, "failed")]),
    "llama": summary([("0", "T lymphocyte", "CD8+ T cell", "ok"), ("1", "Plasma cell", "Plasmablast", "ok"),
                      ("2", "Monocyte", None, "ok"), ("5", "Hepatocyte", None, "ok")]),
}


def test_statuses_after_ontology_unification():
    frame = consensus(list(MODELS.values()), labels=list(MODELS))
    assert list(frame.columns[:len(CONSENSUS_COLUMNS)]) == CONSENSUS_COLUMNS
    assert "gpt General" in frame.columns and "llama Subtype" in frame.columns
    rows = frame.set_index("Cluster ID")
    assert rows.loc["0", "Status"] == "consensus"  # four spellings of one CL term
    assert rows.loc["0", "Consensus General Type"] == "T cell" and rows.loc["0", "Consensus General CL ID"] == "CL:0000084"
    assert rows.loc["0", "Subtype Status"] == "consensus" and rows.loc["0", "Agreement"] == 1
    assert rows.loc["1", "Status"] == "partial" and rows.loc["1", "Majority Votes"] == 3
    assert rows.loc["1", "Agreement"] == pytest.approx(0.75)
    # subtypes: naive, memory, naive, plasmablast -> 2 of 4 is no majority
    assert rows.loc["1", "Consensus Subtype"] == "naive B cell" and rows.loc["1", "Subtype Status"] == "conflict"
    assert rows.loc["1", "Subtype Agreement"] == pytest.approx(0.5)
    assert rows.loc["2", "Status"] == "conflict"  # 2 monocyte vs 2 macrophage
    assert rows.loc["2", "Consensus General Type"] == "monocyte"  # the tie goes to the first seen
    assert rows.loc["2", "Subtype Status"] == "no vote"
    assert rows.loc["3", "Status"] == "single vote" and rows.loc["3", "Votes"] == 1
    assert rows.loc["4", "Status"] == "no vote" and pd.isna(rows.loc["4", "Agreement"])
    assert rows.loc["5", "Status"] == "single vote"
    assert frame["Cluster ID"].tolist() == ["0", "1", "2", "3", "4", "5"]


def test_vote_status_rules():
    assert vote_status(["a", "a", "b"]) == ("a", "partial", 3, 2)
    assert vote_status(["a", "b", "c"]) == ("a", "conflict", 3, 1)
    assert vote_status(["a", "a", "b", "b"])[1] == "conflict"
    assert vote_status(["a", None]) == ("a", "single vote", 1, 1)
    assert vote_status([None, None]) == (None, "no vote", 0, 0)


def test_consensus_reads_run_directories_and_csv_files(tmp_path):
    import cassia

    markers = cassia.load_example_markers()
    first = cassia.run_batch(markers, provider="offline", out_dir=tmp_path / "a", progress=False)
    cassia.run_batch(markers, provider="offline", out_dir=tmp_path / "b", progress=False)
    frame = run_consensus([first, tmp_path / "b", tmp_path / "b" / "summary.csv"])
    assert [c for c in frame.columns if c.endswith(" General")] == ["a General", "b General", "b-2 General"]
    # the offline annotator is deterministic: three word-for-word copies of one answer are one vote
    assert (frame["Votes"] == 1).all() and (frame["Status"] == "single vote").all()
    assert (frame["Left Out"] == "b: repeat of a; b-2: repeat of a").all()
    assert (frame["b General"] == frame["a General"]).all()  # every input's own answer is still shown


def test_answers_that_are_no_evidence_do_not_vote():
    tables = [pd.DataFrame({"Cluster ID": ["0"], "Predicted General Cell Type": [name], "Status": [status]})
              for name, status in (("T cell", "ok"), ("T cell", "unvalidated"), ("Unknown", "ok"),
                                   ("B cell", "failed"), ("T cells", "ok"))]
    row = consensus(tables, labels=["a", "b", "c", "d", "e"]).iloc[0]
    assert row["Votes"] == 2 and row["Majority Votes"] == 2 and row["Status"] == "consensus"
    assert row["Left Out"] == "b: unvalidated; c: no call; d: failed"
    assert row["Consensus General CL ID"] == "CL:0000084"


def test_bad_inputs():
    with pytest.raises(InputError, match="at least one"):
        consensus([])
    with pytest.raises(InputError, match="labels"):
        consensus([MODELS["gpt"]], labels=["a", "b"])
    with pytest.raises(InputError, match="Cluster ID"):
        consensus([pd.DataFrame({"x": [1]})])
    with pytest.raises(InputError, match="does not exist"):
        consensus(["/nonexistent/summary.csv"])
