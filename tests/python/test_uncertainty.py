"""Uncertainty with the scripted provider: n runs, unification and consensus agents, final CS, page."""

from __future__ import annotations

import json

import cassia
import pandas as pd
import pytest
from cassia.agents.unify import UnificationOutput, check_unification
from cassia.errors import InputError
from cassia.testing import ScriptedProvider
from cassia.testing.fake_replies import default_text
from cassia.workflows.uncertainty import (
    UNCERTAINTY_COLUMNS,
    read_uncertainty,
    run_n_times,
    run_uncertainty,
    runCASSIA_batch_n_times,
    runCASSIA_similarity_score_batch,
    score_runs,
)

MARKERS = pd.DataFrame({
    "cluster": ["t"] * 4 + ["m"] * 4,
    "gene": ["CD3D", "CD3E", "CD8A", "GZMB", "LYZ", "CD14", "FCGR3A", "S100A8"],
    "avg_log2FC": [3.0, 2.5, 2.0, 1.5, 3.0, 2.5, 2.0, 1.5],
    "p_val_adj": [1e-10] * 8,
    "pct.1": [0.9] * 8,
    "pct.2": [0.1] * 8,
})
PASS = {"consistent": True, "concerns": [], "feedback": "Sound."}
# cluster "m" gets a different answer in each run (seed 1, 2, 3); cluster "t" always the same
M_ANSWERS = {1: ("Monocyte", ["Classical monocyte"]), 2: ("Macrophage", ["Alveolar macrophage"]),
             3: ("Monocyte", ["Non-classical monocyte"])}


def formatted(general, subtypes):
    return {"main_cell_type": general, "sub_cell_types": subtypes, "mixed_cell_types": [], "key_markers": []}


def summary(rows):
    return pd.DataFrame([{"Cluster ID": c, "Predicted General Cell Type": g, "Predicted Detailed Cell Type": s}
                         for c, g, s in rows])


def agent_provider(unification=None, consensus=None):
    """Answers only the two uncertainty agents."""
    def reply(request):
        if request.task == "unification":
            return unification(request) if callable(unification) else (unification or {"groups": []})
        if request.task == "consensus":
            return consensus(request) if callable(consensus) else consensus
        raise AssertionError(f"unexpected task {request.task}")
    return ScriptedProvider(reply)


def agreeing(score=100):
    return {"general_type": "x", "subtype": "", "consensus_score": score, "reasoning": "r"}


# ---------------------------------------------------------------- unification check


def test_unification_accepts_groups_of_given_names_ignoring_case():
    names = ["Quuxocyte", "Quux cell", "T cell"]
    out = UnificationOutput(groups=[{"canonical": "quuxocyte", "members": ["Quux cell"]}])
    checked = check_unification(out, names)
    assert checked.accepted
    assert checked.canonical("Quux cell") == "Quuxocyte"
    assert checked.canonical("T cell") == "T cell"


@pytest.mark.parametrize("group", [
    {"canonical": "Epithelial cell", "members": ["Quuxocyte", "Quux cell"]},  # invented canonical
    {"canonical": "Quuxocyte", "members": ["Quux cell", "Quuxoid cell"]},  # invented member
])
def test_unification_rejects_invented_labels(group):
    checked = check_unification(UnificationOutput(groups=[group]), ["Quuxocyte", "Quux cell"])
    assert not checked.accepted and "not given by any run" in checked.note
    assert checked.mapping == {}


def test_unification_rejects_a_name_in_two_groups():
    out = UnificationOutput(groups=[{"canonical": "A", "members": ["B"]}, {"canonical": "C", "members": ["B"]}])
    checked = check_unification(out, ["A", "B", "C"])
    assert not checked.accepted and "two groups" in checked.note


# ---------------------------------------------------------------- scoring finished runs


def three_runs():
    """Cluster c1: every run agrees after ontology unification. Cluster c2: runs disagree, and two
    names the ontology does not know are synonyms only the unification agent can see."""
    return [
        summary([("c1", "T cells", "CD8+ T cells"), ("c2", "Quuxocyte", "Zorblax cell")]),
        summary([("c1", "T cell", "CD8-positive, alpha-beta T cell"), ("c2", "Quux cell", "Zorblax cell")]),
        summary([("c1", "T cell", "CD8 T cell"), ("c2", "Fibroblast", "Myofibroblast")]),
    ]


def test_certain_and_uncertain_clusters(tmp_path):
    groups = {"groups": [{"canonical": "Quuxocyte", "members": ["Quux cell"]}]}
    provider = agent_provider(unification=groups, consensus=lambda r: agreeing(95 if r.context["cluster"] == "c1" else 60))
    result = score_runs(three_runs(), provider=provider, out_dir=tmp_path / "u", progress=False)
    frame = result.to_frame().set_index("Cluster ID")
    assert list(result.to_frame().columns[:len(UNCERTAINTY_COLUMNS)]) == UNCERTAINTY_COLUMNS

    c1 = frame.loc["c1"]
    assert c1["CS_CL"] == 100 and c1["CS_LLM"] == 100 and c1["CS_agent"] == 95 and c1["CS"] == 95
    assert not c1["Uncertain"] and not c1["Recommend Boost"]
    assert c1["Consensus General Type"] == "T cell" and c1["Consensus Subtype CL ID"] == "CL:0000625"

    c2 = frame.loc["c2"]
    # CS_CL: G = "quuxocyte" (first), S = "zorblax cell": runs 1.0, 0.3, 0 -> 43.33
    assert c2["CS_CL"] == pytest.approx(43.33)
    # CS_LLM: the two quux names merge: runs 1.0, 1.0, 0 -> 66.67
    assert c2["CS_LLM"] == pytest.approx(66.67)
    assert c2["CS"] == pytest.approx(43.33) and c2["Uncertain"] and c2["Recommend Boost"]
    assert c2["General Agreement"] == pytest.approx(0.33)
    assert result.uncertain == ["c2"]

    # c1's raw names differ ("T cells" / "T cell"), so the unification agent is asked about both clusters
    tasks = [(c.task, c.context["cluster"]) for c in provider.calls]
    assert ("unification", "c1") in tasks and ("unification", "c2") in tasks
    assert tasks.count(("consensus", "c1")) == 1

    out = tmp_path / "u"
    assert {p.name for p in out.iterdir()} >= {"uncertainty.csv", "uncertainty.jsonl", "uncertainty.html",
                                               "manifest.json", "transcripts"}
    assert [c.cluster for c in read_uncertainty(out)] == ["c1", "c2"]
    assert len(list((out / "transcripts").rglob("*-unification.json"))) == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "uncertainty" and manifest["counts"] == {"clusters": 2, "uncertain": 1}
    saved = pd.read_csv(out / "uncertainty.csv", dtype={"Cluster ID": str})
    assert saved["CS"].round(2).tolist() == [95.0, 43.33]


def test_unification_agent_inventing_a_label_is_rejected():
    invented = {"groups": [{"canonical": "Epithelial cell",
                            "members": ["Quuxocyte", "Quux cell"]}]}
    result = score_runs(three_runs(), provider=agent_provider(unification=invented, consensus=agreeing()),
                        progress=False)
    c2 = next(c for c in result.clusters if c.cluster == "c2")
    assert c2.cs_llm == c2.cs_cl == pytest.approx(130 / 3)
    assert not c2.unification["accepted"]
    assert any("Epithelial cell" in note and "falls back to CS_CL" in note for note in c2.notes)
    assert all(v.general_llm is None for v in c2.votes)


def test_identical_answers_skip_the_unification_call_and_agent_failure_is_noted():
    runs = [summary([("c", "B cell", "Naive B cell")])] * 3
    provider = agent_provider(consensus=lambda r: (_ for _ in ()).throw(cassia.ModelOutputError("bad JSON")))
    result = score_runs(runs, provider=provider, progress=False)
    c = result.clusters[0]
    assert [call.task for call in provider.calls] == ["consensus"]
    assert c.cs_cl == c.cs_llm == c.cs == 100 and c.cs_agent is None
    assert any("consensus agent failed" in note for note in c.notes)


def test_agents_off_and_failed_runs():
    runs = [summary([("c", "B cell", "Naive B cell")]),
            pd.DataFrame({"Cluster ID": ["c"], "Predicted General Cell Type": ["T cell"], "Status": ["failed"]}),
            summary([("c", "B cells", "naive B cells")])]
    result = score_runs(runs, agents=False, labels=["a", "b", "c"], progress=False)
    c = result.clusters[0]
    assert c.answered == 2 and c.cs == 100 and c.cs_llm is None and c.cs_agent is None
    assert [v.run for v in c.votes] == ["a", "b", "c"] and c.votes[1].status == "failed"


def test_score_runs_rejects_bad_arguments():
    with pytest.raises(InputError, match="list of runs"):
        score_runs(summary([("c", "B cell", None)]), agents=False)
    with pytest.raises(InputError, match="threshold"):
        score_runs([summary([("c", "B cell", None)])], agents=False, threshold=150)
    with pytest.raises(InputError, match="labels"):
        score_runs([summary([("c", "B cell", None)])], agents=False, labels=["a", "b"])


# ---------------------------------------------------------------- n runs end to end


def team_and_agents(request):
    if request.task == "annotator":  # a sampling model: each run reasons in its own words
        return f"Reasoning over the markers, in run {request.seed}'s words."
    if request.task == "review":  # the verdict and the record in one answer
        if request.context["cluster"] == "t":
            return {**PASS, **formatted("T cell", ["CD8-positive, alpha-beta T cell"])}
        return {**PASS, **formatted(*M_ANSWERS[request.seed])}
    if request.task == "unification":
        return {"groups": []}
    if request.task == "consensus":
        return agreeing(90 if request.context["cluster"] == "t" else 40)
    raise AssertionError(request.task)


def test_run_uncertainty_end_to_end(tmp_path):
    provider = ScriptedProvider(team_and_agents)
    result = run_uncertainty(MARKERS, n=3, provider=provider, out_dir=tmp_path / "u", tissue="blood",
                             temperature=0.9, seed=0, progress=False)
    assert [r.run_dir.name for r in result.runs] == ["run-1", "run-2", "run-3"]
    for k in (1, 2, 3):
        assert (tmp_path / "u" / f"run-{k}" / "summary.csv").exists()
    annotator_calls = [c for c in provider.calls if c.task == "annotator"]
    assert sorted({c.seed for c in annotator_calls}) == [1, 2, 3]
    assert {c.temperature for c in annotator_calls} == {0.9}

    frame = result.to_frame().set_index("Cluster ID")
    t, m = frame.loc["t"], frame.loc["m"]
    assert t["CS_CL"] == 100 and t["CS"] == 90 and not t["Uncertain"]
    # m: generals monocyte, macrophage, monocyte; subtypes all different -> G = monocyte, S = classical
    # runs: 1.0, 0, 0.7 -> 56.67; the agent says 40 -> CS 40
    assert m["CS_CL"] == pytest.approx(56.67) and m["CS_agent"] == 40 and m["CS"] == 40
    assert m["Uncertain"] and m["Recommend Boost"]
    assert m["Consensus General Type"] == "monocyte" and m["General Agreement"] == pytest.approx(0.67)
    assert [m[f"Run {k} General"] for k in (1, 2, 3)] == ["Monocyte", "Macrophage", "Monocyte"]
    html = (tmp_path / "u" / "uncertainty.html").read_text()
    assert "Alveolar macrophage" in html and "uncertain" in html
    for k in (1, 2, 3):  # each run has its report, linked from the page
        assert (tmp_path / "u" / f"run-{k}" / "report.html").exists() and f'href="run-{k}/report.html"' in html
    assert result.manifest["settings"]["seeds"] == [1, 2, 3]

    # the same folder again needs resume=True, which then makes no new annotation call
    with pytest.raises(InputError, match="resume"):
        run_uncertainty(MARKERS, n=3, provider=provider, out_dir=tmp_path / "u", progress=False)
    before = sum(c.task == "annotator" for c in provider.calls)
    again = run_uncertainty(MARKERS, n=3, provider=provider, out_dir=tmp_path / "u", resume=True, progress=False)
    assert sum(c.task == "annotator" for c in provider.calls) == before
    assert again.to_frame()["CS"].tolist() == result.to_frame()["CS"].tolist()


def test_run_n_times_and_aliases(tmp_path):
    assert runCASSIA_batch_n_times is run_n_times and runCASSIA_similarity_score_batch is score_runs
    runs = run_n_times(MARKERS, n=2, provider="offline", out_dir=tmp_path / "n", progress=False)
    assert [r.run_dir.name for r in runs] == ["run-1", "run-2"]
    assert all(r.manifest["status"] == "complete" for r in runs)
    with pytest.raises(TypeError, match="use_cache"):  # the n runs always bypass the cache: no such option
        run_n_times(MARKERS, n=2, provider="offline", out_dir=tmp_path / "x", use_cache=True)
    with pytest.raises(InputError, match="n must be"):
        run_n_times(MARKERS, n=0, provider="offline", out_dir=tmp_path / "y")


def test_offline_runs_repeat_one_answer_and_get_no_cs(tmp_path):
    # the offline annotator is deterministic: run_uncertainty refuses it, and scoring its runs
    # finds one answer repeated word for word, which is not agreement
    with pytest.raises(cassia.ConfigError, match="deterministic"):
        run_uncertainty(MARKERS, n=2, provider="offline", out_dir=tmp_path / "refused", progress=False)
    runs = run_n_times(MARKERS, n=2, provider="offline", out_dir=tmp_path / "n", progress=False)
    result = score_runs(runs, provider="offline", out_dir=tmp_path / "u", progress=False)
    frame = result.to_frame()
    assert frame["CS"].isna().all() and frame["CS_CL"].isna().all() and frame["Uncertain"].all()
    assert all("repeated word for word" in note for note in frame["Notes"])
    assert [v.status for v in result.clusters[0].votes] == ["ok", "repeat of run-1"]
    assert "offline" in result.manifest["notes"][0]
    assert "offline provider has no LLM" in (tmp_path / "u" / "uncertainty.html").read_text()


def test_page_escapes_model_text(tmp_path):
    runs = [summary([("<c>", "<script>alert(1)</script>", None)]), summary([("<c>", "B cell", None)])]
    score_runs(runs, agents=False, out_dir=tmp_path / "u", progress=False)
    html = (tmp_path / "u" / "uncertainty.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_subclustering_results_can_be_scored(tmp_path):
    from cassia.models import ClusterResult, FormatterOutput
    from cassia.workflows.subcluster import SubclusterResult

    def result(general, sub):
        ann = FormatterOutput(main_cell_type=general, sub_cell_types=[sub], mixed_cell_types=[], key_markers=[])
        return ClusterResult(cluster="0", status="ok", annotation=ann, markers=["CCR7", "SELL"])

    runs = [SubclusterResult(run_dir=tmp_path / f"s{k}", results=[result("CD8+ T cell", sub)])
            for k, sub in enumerate(["Naive CD8+ T cell", "naive CD8-positive, alpha-beta T cell", "Effector memory CD8+ T cell"])]
    c = score_runs(runs, agents=False, progress=False).clusters[0]
    # G matches everywhere; S = naive CD8 T (2 of 3) -> runs 1.0, 1.0, 0.7 -> 90
    assert c.cs == pytest.approx(90) and not c.uncertain
    assert [v.run for v in c.votes] == ["s0", "s1", "s2"]


def test_run_uncertainty_over_http_against_the_fake_server(fake_server, tmp_path):
    # unscripted, the fake server answers the same text and JSON whatever the seed: the runs repeat
    # one answer word for word, so there is no CS and no consensus agent is asked
    result = run_uncertainty(MARKERS, n=2, provider=fake_server.url, out_dir=tmp_path / "u", progress=False,
                             cache_path=tmp_path / "cache.sqlite")
    frame = result.to_frame()
    assert frame["CS"].isna().all() and frame["Uncertain"].all()
    assert all("repeated word for word" in note for note in frame["Notes"])
    bodies = [r.body for r in fake_server.requests if isinstance(r.body, dict)]
    assert {1, 2} <= {b.get("seed") for b in bodies}
    assert not any("ConsensusOutput" in str(b.get("response_format")) for b in bodies)

    # a server that samples (the annotator's words depend on the seed) gives independent answers
    fake_server.add_rule(lambda r: r.body.get("seed") is not None and "response_format" not in r.body,
                         lambda r: f"Run {r.body['seed']}. " + default_text(r.last_user))
    sampled = run_uncertainty(MARKERS, n=2, provider=fake_server.url, out_dir=tmp_path / "s", progress=False,
                              cache_path=tmp_path / "cache.sqlite").to_frame()
    assert (sampled["CS_CL"] == 100).all() and (sampled["CS_agent"] == 80).all() and (sampled["CS"] == 80).all()
