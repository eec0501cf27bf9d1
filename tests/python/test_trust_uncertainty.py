"""Issue 14, case 4: uncertainty never calls agreement on nothing "certain".

"Unknown", failed, unvalidated and word-for-word repeated answers are not agreement; a CS needs
two independent answers; a deterministic backend is refused; cached replays never stand in for a
run; and two of three runs agreeing by chance on a general type stays below the threshold.
"""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import cassia
import pandas as pd
import pytest
from cassia.models import ClusterResult, DiagnosisOutput, FormatterOutput, Message
from cassia.providers.cache import CachedProvider, ResponseCache
from cassia.testing import ScriptedProvider
from cassia.workflows.uncertainty import run_uncertainty, score_runs

MARKERS = pd.DataFrame({
    "cluster": ["t"] * 3, "gene": ["CD3D", "CD3E", "CD2"], "avg_log2FC": [3.0, 2.5, 2.0],
    "p_val_adj": [1e-10] * 3, "pct.1": [0.9] * 3, "pct.2": [0.1] * 3,
})
PASS = {"cell_type": "T cell", "cited_genes": [], "consistent": True, "concerns": [], "feedback": "Sound."}
TYPES = ["T cell", "B cell", "natural killer cell", "monocyte", "fibroblast", "endothelial cell", "neutrophil"]


def summary(general, subtype=None, status="ok"):
    return pd.DataFrame([{"Cluster ID": "c", "Predicted General Cell Type": general,
                          "Predicted Detailed Cell Type": subtype, "Status": status}])


def result(general, *, reasoning, validated=True):
    answer = dict(main_cell_type=general, sub_cell_types=[], mixed_cell_types=[], key_markers=["CD3D"])
    return ClusterResult(
        cluster="c", status="ok", markers=["CD3D", "CD3E"], validated=validated,
        annotation=FormatterOutput(**answer) if validated else None,
        diagnosis=None if validated else DiagnosisOutput(**answer, what_went_wrong="invented genes", what_to_do="x"),
        conversation=[Message(role="assistant", content=reasoning)])


def run(*results):
    return SimpleNamespace(results=list(results), run_dir=None)


def cs_of(runs):
    return score_runs(runs, agents=False, progress=False).clusters[0]


def test_unknown_answers_are_not_agreement():
    c = cs_of([summary("Unknown"), summary("unknown"), summary("Unassigned")])
    assert c.cs is None and c.uncertain and c.answered == 0
    assert [v.status for v in c.votes] == ["no call"] * 3
    assert "CS not computed" in c.notes[0] and "3 no call" in c.notes[0]


def test_failed_and_unvalidated_answers_are_not_agreement():
    c = cs_of([summary("T cell"), summary("T cell", status="failed"), summary("T cell", status="unvalidated")])
    assert c.cs is None and c.uncertain
    assert [v.status for v in c.votes] == ["ok", "failed", "unvalidated"]
    # from run records: an answer that only reached a diagnosis does not vote either
    c = cs_of([run(result("T cell", reasoning="one")), run(result("T cell", reasoning="two", validated=False))])
    assert c.cs is None and [v.status for v in c.votes] == ["ok", "unvalidated"]


def test_word_for_word_repeats_count_once():
    same = result("T cell", reasoning="CD3D and CD3E: a T cell.")
    c = cs_of([run(same), run(same), run(same)])
    assert c.cs is None and c.uncertain and c.answered == 1
    assert [v.status for v in c.votes] == ["ok", "repeat of input-1", "repeat of input-1"]
    assert "repeated word for word" in c.notes[0]
    # the same call reached through different reasoning is agreement
    c = cs_of([run(same), run(result("T cell", reasoning="CD2 with CD3E: T lineage."))])
    assert c.cs == 100 and not c.uncertain


def test_run_uncertainty_refuses_one_run_and_the_offline_backend(tmp_path):
    scripted = ScriptedProvider(lambda r: "unused")
    with pytest.raises(cassia.ConfigError, match="n >= 2"):
        run_uncertainty(MARKERS, n=1, provider=scripted, out_dir=tmp_path / "a", progress=False)
    with pytest.raises(cassia.ConfigError, match="deterministic"):
        run_uncertainty(MARKERS, n=3, provider="offline", out_dir=tmp_path / "b", progress=False)
    assert scripted.calls == []


def test_runs_never_replay_a_callers_cache(tmp_path):
    # an agent CLI gets no seed, so every run sends the same request: a cache would answer runs
    # 2..n with run 1's reply (the CLI wraps one for --timeout, --shell-command, --backend-arg)
    replies = iter(range(1000))

    def reply(request):
        if request.task == "annotator":
            return f"Attempt {next(replies)}: CD3D, CD3E and CD2 point to a T cell."
        if request.task == "review":  # the verdict and the record in one answer
            return {**PASS, "main_cell_type": "T cell", "sub_cell_types": [], "mixed_cell_types": [],
                    "key_markers": ["CD3D"]}
        return {"general_type": "T cell", "subtype": "", "consensus_score": 90, "reasoning": "agree"}

    scripted = ScriptedProvider(reply)
    scripted.config = dataclasses.replace(scripted.config, kind="cli")
    cached = CachedProvider(scripted, ResponseCache(tmp_path / "cache.sqlite"))
    result = run_uncertainty(MARKERS, n=3, provider=cached, out_dir=tmp_path / "u", progress=False, agents=False)
    assert sum(c.task == "annotator" for c in scripted.calls) == 3
    c = result.clusters[0]
    assert c.answered == 3 and c.cs == 100 and [v.status for v in c.votes] == ["ok"] * 3


def test_two_of_three_random_calls_stay_below_the_threshold():
    # a model picking 1 of 7 types at random for a random-gene list, no subtype, 3 runs: with the
    # old formula every pair agreeing by chance scored 76.7 (26 of 50 lists above 75)
    rng = random.Random(14)
    lists = [[rng.choice(TYPES) for _ in range(3)] for _ in range(50)]
    scores = [cs_of([summary(name) for name in picks]).cs for picks in lists]
    for picks, score in zip(lists, scores):
        assert (score >= 75) == (len(set(picks)) == 1), (picks, score)
    assert any(len(set(p)) == 2 for p in lists)  # the case that used to pass is present
