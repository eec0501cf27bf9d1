"""Subclustering on the real CD8 fixture: one side-by-side call, retries, auto-split, the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import cassia
import pandas as pd
import pytest
from cassia.agents.subcluster import SubclusterConsistencyOutput, SubclusterOutput
from cassia.store import SUMMARY_COLUMNS, read_results
from cassia.testing import ScriptedProvider
from cassia.workflows.subcluster import (
    SUBCLUSTER_COLUMNS,
    run_subclusters,
    split_groups,
)

CD8 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers" / "cd8_subcluster_findallmarkers.csv"
POPULATION = "CD8 T cells from a human tumour"
STATES = {"0": "naive CD8-positive, alpha-beta T cell", "1": "effector memory CD8-positive, alpha-beta T cell",
          "2": "exhausted CD8-positive, alpha-beta T cell", "3": "tissue-resident memory CD8-positive T cell",
          "4": "proliferating CD8-positive T cell", "5": "mucosal-associated invariant T cell"}
SCORED = {"score": 82, "reasoning": "Distinct markers per subcluster.", "possible_mixed_population": False}


def answer(ids, *, label=lambda c: STATES[c], words=""):
    return {"comparison": "They differ in naive, memory, effector and exhaustion genes.",
            "subclusters": [{"cluster": c, "main_cell_type": "CD8-positive, alpha-beta T cell", "sub_cell_type": label(c),
                             "key_markers": ["CCR7"] if c == "0" else ["GZMK"],
                             "reasoning": f"Subcluster {c} reasoning{words}."}
                            for c in ids]}


def run(provider, tmp_path, **kwargs):
    return run_subclusters(CD8, major_cluster_info=POPULATION, provider=provider, out_dir=tmp_path / "sub",
                           species="human", tissue="tumour", progress=False, use_cache=False, **kwargs)


def subcluster_calls(provider):
    return [c for c in provider.calls if c.task == "subcluster"]


def test_all_subclusters_in_one_call(tmp_path):
    provider = ScriptedProvider({"subcluster": [answer(list(STATES))], "scorer": [SCORED]})
    result = run(provider, tmp_path)
    calls = subcluster_calls(provider)
    assert len(calls) == 1 and calls[0].schema is SubclusterOutput
    prompt = calls[0].messages[0].content
    assert POPULATION in prompt and all(f"Subcluster {c}:" in prompt for c in STATES)
    assert "IL7R" in prompt  # the fixture's real markers reach the model
    frame = result.to_frame()
    assert list(frame.columns) == SUBCLUSTER_COLUMNS
    assert list(frame["Cluster ID"]) == list(STATES)
    assert list(frame["Sub Cell Type"]) == list(STATES.values())
    assert (frame["Status"] == "ok").all() and (frame["Score"] == 82).all() and (frame["Attempts"] == 1).all()
    assert len([c for c in provider.calls if c.task == "scorer"]) == 6
    run_dir = result.run_dir
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"Cluster ID": str})
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary.loc[0, "Predicted Detailed Cell Type"] == STATES["0"]
    assert len(read_results(run_dir)) == 6 and (run_dir / "subclusters.csv").exists()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["kind"] == "subcluster" and manifest["status"] == "complete" and manifest["groups"] == [list(STATES)]
    assert manifest["usage"]["input_tokens"] > 0
    page = (run_dir / "subclusters.html").read_text()
    assert "exhausted CD8-positive" in page and "Subcluster 5 reasoning." in page
    assert "subclusters.html" in (run_dir / "clusters" / f"{cassia.store.slug('0')}.html").read_text()
    assert frame["Tokens"].sum() == sum(r.tokens for r in result.results) > 0


def test_missing_subcluster_is_asked_for_again(tmp_path):
    first = answer([c for c in STATES if c != "3"])
    second = answer(["cluster 3"], label=lambda c: STATES["3"])  # a loosely written ID still matches
    provider = ScriptedProvider({"subcluster": [first, second], "scorer": [SCORED]})
    result = run(provider, tmp_path)
    calls = subcluster_calls(provider)
    assert len(calls) == 2
    retry = calls[1].messages[0].content
    assert "left out" in retry and "Subcluster 3:" in retry and "Subcluster 0:" not in retry
    assert "- 0: CD8-positive, alpha-beta T cell / naive" in retry  # siblings given for comparison
    frame = result.to_frame().set_index("Cluster ID")
    assert frame.loc["3", "Sub Cell Type"] == STATES["3"] and frame.loc["3", "Attempts"] == 2
    assert frame.loc["0", "Attempts"] == 1 and (frame["Status"] == "ok").all()


def test_subcluster_never_answered_is_kept_as_failed(tmp_path):
    provider = ScriptedProvider({"subcluster": [answer(["0", "1", "2", "4", "5"]), answer([])], "scorer": [SCORED]})
    result = run(provider, tmp_path, max_retries=1)
    frame = result.to_frame().set_index("Cluster ID")
    assert len(frame) == 6 and frame.loc["3", "Status"] == "failed"
    assert "did not annotate this subcluster in 2 attempt(s)" in frame.loc["3", "Error"]
    assert pd.isna(frame.loc["3", "Score"]) and result.manifest["status"] == "partial"
    assert len(subcluster_calls(provider)) == 2


def test_large_population_is_split_then_harmonised(tmp_path):
    def reply(request):
        if request.task == "scorer":
            return SCORED
        if request.schema is SubclusterConsistencyOutput:
            return {"labels": [{"cluster": c, "main_cell_type": "CD8-positive, alpha-beta T cell",
                                "sub_cell_type": STATES[c], "note": "renamed to match group 1" if c == "4" else ""}
                               for c in STATES]}
        ids = list(request.context["subclusters"])
        return answer(ids, label=lambda c: "cycling T cell" if c == "4" else STATES[c])

    provider = ScriptedProvider(reply)
    result = run(provider, tmp_path, group_size=4)
    calls = subcluster_calls(provider)
    groups = [list(c.context["subclusters"]) for c in calls if c.schema is SubclusterOutput]
    assert groups == [["0", "1", "2"], ["3", "4", "5"]]
    assert "group 2 of 2" in calls[1].messages[0].content
    assert calls[-1].schema is SubclusterConsistencyOutput and "cycling T cell" in calls[-1].messages[0].content
    frame = result.to_frame().set_index("Cluster ID")
    assert frame.loc["4", "Sub Cell Type"] == STATES["4"]
    assert frame.loc["4", "Consistency Note"] == "renamed to match group 1"
    assert list(frame["Group"]) == [1, 1, 1, 2, 2, 2]
    assert result.manifest["groups"] == [["0", "1", "2"], ["3", "4", "5"]]
    four = next(r for r in result.results if r.cluster == "4")
    assert four.subcluster.before_consistency.endswith("cycling T cell")
    assert set(four.stages) == {"subcluster", "consistency", "scorer"}


def test_split_groups_are_balanced():
    assert [len(g) for g in split_groups([str(i) for i in range(11)], 10)] == [6, 5]
    assert split_groups(["a", "b"], 10) == [["a", "b"]]
    with pytest.raises(cassia.InputError):
        split_groups(["a"], 0)


def test_subclusters_through_the_fake_server(fake_server, tmp_path):
    fake_server.add_rule(lambda r: (r.schema() or ({}, None))[1] == "SubclusterOutput", answer(list(STATES)))
    result = run_subclusters(CD8, major_cluster_info=POPULATION, provider=fake_server.url, out_dir=tmp_path / "sub",
                             progress=False, use_cache=False)
    frame = result.to_frame()
    assert (frame["Status"] == "ok").all() and frame["Score"].notna().all()
    assert list(frame["Sub Cell Type"]) == list(STATES.values())
    names = [r.body["response_format"]["json_schema"]["name"] for r in fake_server.requests]
    assert sorted(names) == ["ScorerOutput"] * 6 + ["SubclusterOutput"]
    assert (result.run_dir / "report.html").exists() and (result.run_dir / "subclusters.html").exists()


def test_failed_group_call_fails_only_its_subclusters(tmp_path):
    def reply(request):
        if request.task == "scorer":
            return SCORED
        if request.schema is SubclusterConsistencyOutput:
            return {"labels": []}
        ids = list(request.context["subclusters"])
        return "not json" if "4" in ids else answer(ids)  # every time: the repair fails too

    result = run(ScriptedProvider(reply), tmp_path, group_size=3)
    frame = result.to_frame().set_index("Cluster ID")
    assert list(frame["Status"]) == ["ok"] * 3 + ["failed"] * 3
    assert "ModelOutputError" in frame.loc["4", "Error"]
    assert frame.loc["0", "Consistency Note"] == "not returned by the consistency pass; label kept"


def test_repeated_subclustering_runs_reach_a_consensus(tmp_path):
    """n subclustering runs scored with the uncertainty machinery (CS per subcluster); each run
    reasons in its own words (word-for-word repeats would be one answer, not agreement)."""
    runs = []
    for n, label in enumerate([STATES.get, STATES.get, lambda c: "regulatory T cell" if c == "5" else STATES[c]]):
        provider = ScriptedProvider({"subcluster": [answer(list(STATES), label=label, words=f", run {n}")],
                                     "scorer": [SCORED]})
        runs.append(run_subclusters(CD8, major_cluster_info=POPULATION, provider=provider,
                                    out_dir=tmp_path / f"sub-{n}", progress=False, use_cache=False))
    table = cassia.score_runs(runs, agents=False, report=False).to_frame().set_index("Cluster ID")
    assert set(table.index) == set(STATES)
    assert table.loc["0", "CS"] == pytest.approx(100)
    # general type agrees in 3/3 runs (weight 0.7), subtype in 2/3 (weight 0.3): (2.1 + 0.6) / 3
    assert table.loc["5", "CS"] == pytest.approx(90)
