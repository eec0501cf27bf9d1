"""Annotation Boost on the scripted provider: the loop, gene answers, failures, pipeline write-back."""

from __future__ import annotations

import json

import cassia
import pandas as pd
import pytest
from cassia.agents.boost import BoostFinal, BoostStep
from cassia.models import ClusterResult, FormatterOutput, ScorerOutput
from cassia.store import read_results, slug
from cassia.testing import ScriptedProvider
from cassia.workflows.boost import query_genes, run_annotation_boost

# "mystery" looks like a monocyte in its top genes but is glial in the full table (like the
# large-intestine fixture); "t" is a plain T cell cluster.
GLIA = ["SOX10", "PLP1", "CDH19", "S100B", "MPZ", "FCGR3A", "GAPDH", "ACTB"]
MARKERS = pd.DataFrame({
    "cluster": ["mystery"] * len(GLIA) + ["t"] * 4,
    "gene": GLIA + ["CD3D", "CD3E", "CD2", "IL7R"],
    "avg_log2FC": [2.5, 2.2, 1.9, 1.7, 1.1, 0.6, 0.3, 0.28, 3.0, 2.5, 2.0, 1.5],
    "pct.1": [0.9, 0.85, 0.8, 0.95, 0.5, 0.3, 1.0, 1.0, 0.9, 0.9, 0.8, 0.7],
    "pct.2": [0.05, 0.04, 0.02, 0.2, 0.01, 0.2, 0.99, 0.99, 0.1, 0.1, 0.2, 0.3],
    "p_val_adj": [1e-30, 1e-25, 1e-20, 1e-15, 1e-5, 0.01, 0.02, 0.03, 1e-10, 1e-10, 1e-8, 1e-6],
})
FIRST = FormatterOutput(main_cell_type="monocyte", sub_cell_types=["classical monocyte"], mixed_cell_types=[],
                        key_markers=["S100B"])
PREVIOUS = ClusterResult(cluster="mystery", status="ok", markers=GLIA[:5], tissue="large intestine",
                         species="human", annotation=FIRST,
                         score=ScorerOutput(score=35, reasoning="S100B alone is weak.", possible_mixed_population=False))

CONCLUSION = {"annotation": {"main_cell_type": "glial cell", "sub_cell_types": ["enteric glial cell", "Schwann cell"],
                             "mixed_cell_types": [], "key_markers": ["SOX10", "PLP1", "CDH19"]},
              "confidence": "high", "summary": "SOX10, PLP1 and CDH19 are strongly enriched; CD14 and LYZ are absent.",
              "answer": ""}
CHECK = {"reasoning": "Monocyte or glia?", "verdicts": [], "action": "check", "conclusion": None,
         "checks": [{"hypothesis": "enteric glia", "genes": ["sox10", "PLP1", "MPZ"], "rationale": "glial lineage"},
                    {"hypothesis": "monocyte", "genes": ["CD14", "LYZ", "CD16"], "rationale": "myeloid lineage"}]}
CONCLUDE = {"reasoning": "Glial genes are strong; myeloid genes are missing.",
            "verdicts": [{"hypothesis": "enteric glia", "verdict": "supported", "evidence": "SOX10 2.5"},
                         {"hypothesis": "monocyte", "verdict": "refuted", "evidence": "CD14, LYZ absent"}],
            "action": "conclude", "checks": [], "conclusion": CONCLUSION}


def boost(provider, tmp_path, **kwargs):
    kwargs.setdefault("previous", PREVIOUS)
    return run_annotation_boost(MARKERS, "mystery", provider=provider, out_dir=tmp_path / "boost", progress=False,
                                use_cache=False, **kwargs)


def boost_calls(provider):
    return [c for c in provider.calls if c.task == "boost"]


def test_boost_converges_early_with_answers_from_the_table(tmp_path):
    provider = ScriptedProvider({"boost": [CHECK, CONCLUDE]})
    result = boost(provider, tmp_path, max_iterations=5)
    assert result.status == "ok" and result.converged and result.iterations == 2
    assert len(boost_calls(provider)) == 2
    assert result.annotation.main_cell_type == "glial cell"
    assert result.original_annotation.main_cell_type == "monocyte"
    assert result.result.boosted and result.result.original_annotation == FIRST
    # the agent's second turn sees the table's own numbers, case-insensitive, aliases resolved
    results_message = boost_calls(provider)[1].messages[-1].content
    assert "sox10 (as SOX10): avg_log2FC 2.5, pct.1 0.9, pct.2 0.05" in results_message
    assert "CD16 (as FCGR3A): avg_log2FC 0.6" in results_message
    assert "LYZ: not in this cluster's table" in results_message
    genes = result.genes_frame().set_index("query")
    assert genes.loc["PLP1", "avg_log2FC"] == 2.2 and genes.loc["PLP1", "rank"] == 2
    assert not genes.loc["CD14", "found"] and genes.loc["CD16", "via_alias"]
    verdicts = result.hypotheses_frame().set_index("hypothesis")["verdict"].to_dict()
    assert verdicts == {"enteric glia": "supported", "monocyte": "refuted"}
    row = result.to_frame().iloc[0]
    assert row["Boosted"] and row["Predicted General Cell Type"] == "glial cell"
    assert row["Predicted Detailed Cell Type"] == "enteric glial cell"
    # the first prompt carries the earlier answer and its score; the page exists and is linked
    start = boost_calls(provider)[0].messages[0].content
    assert "monocyte" in start and "35/100" in start and "S100B alone is weak." in start
    assert result.page == result.run_dir / "boost" / f"{slug('mystery')}.html"
    page = result.page.read_text()
    assert "enteric glia" in page and "not in table" in page and "glial cell" in page
    assert result.usage.total > 0


def test_iteration_limit_forces_a_conclusion(tmp_path):
    final = {"reasoning": "Out of turns.", "verdicts": [], "conclusion": {**CONCLUSION, "confidence": "low"}}
    provider = ScriptedProvider({"boost": [CHECK, CHECK, final]})
    result = boost(provider, tmp_path, max_iterations=3)
    calls = boost_calls(provider)
    assert [c.schema for c in calls] == [BoostStep, BoostStep, BoostFinal]
    assert result.iterations == 3 and not result.converged and result.status == "ok"
    assert result.details.confidence == "low"
    assert "next turn is the last" in calls[2].messages[-1].content
    assert [h.round for h in result.hypotheses] == [1, 1, 2, 2]


def test_depth_first_checks_one_hypothesis_per_turn(tmp_path):
    provider = ScriptedProvider({"boost": [CHECK, CONCLUDE]})
    result = boost(provider, tmp_path, mode="depth")
    assert "Work depth-first" in boost_calls(provider)[0].system
    assert [h.hypothesis for h in result.hypotheses] == ["enteric glia", "monocyte"]
    assert result.hypotheses[0].genes == ["sox10", "PLP1", "MPZ"]
    assert result.hypotheses[1].genes == []  # only judged, never looked up
    message = boost_calls(provider)[1].messages[-1].content
    assert "not checked this turn: monocyte" in message and "CD14" not in message


def test_additional_task_is_asked_and_answered(tmp_path):
    answer = {**CONCLUDE, "conclusion": {**CONCLUSION, "answer": "No: no proliferation or oncogene signal."}}
    provider = ScriptedProvider({"boost": [answer]})
    result = boost(provider, tmp_path, additional_task="is this a cancer cluster?")
    assert "is this a cancer cluster?" in boost_calls(provider)[0].system
    assert result.answer.startswith("No:") and result.iterations == 1
    assert "is this a cancer cluster?" in result.page.read_text()


def test_query_genes_without_a_model():
    frame = query_genes(MARKERS, "mystery", ["plp1", "CD16", "NOTAGENE", "PLP1"])
    assert list(frame["query"]) == ["plp1", "CD16", "NOTAGENE"]  # repeats asked once
    assert list(frame["found"]) == [True, True, False]
    assert frame.loc[1, "gene"] == "FCGR3A" and frame.loc[1, "via_alias"]
    assert frame.loc[0, "pct.2"] == 0.04 and pd.isna(frame.loc[2, "avg_log2FC"])
    assert (frame["table_size"] == len(GLIA)).all()
    with pytest.raises(cassia.InputError, match="no cluster 'nope'"):
        query_genes(MARKERS, "nope", ["CD3D"])


def test_malformed_request_is_repaired(tmp_path):
    empty_check = {**CHECK, "checks": []}  # asks to check but names no genes
    provider = ScriptedProvider({"boost": [empty_check, CONCLUDE]})
    result = boost(provider, tmp_path)
    assert result.status == "ok" and result.iterations == 1
    repair = boost_calls(provider)[1].messages[-1].content
    assert "at least one check listing genes" in repair


def test_malformed_request_twice_fails_gracefully(tmp_path):
    provider = ScriptedProvider({"boost": [CHECK, {"action": "conclude"}, "not json at all"]})
    result = boost(provider, tmp_path)
    assert result.status == "failed" and "ModelOutputError" in result.error
    kept = result.result
    assert not kept.boosted and kept.annotation == FIRST and kept.original_annotation is None
    assert kept.error.startswith("boost failed:")
    assert [h.hypothesis for h in result.hypotheses] == ["enteric glia", "monocyte"]  # work so far kept
    assert "The boost failed." in result.page.read_text()
    assert read_results(result.run_dir)[0].boost.status == "failed"


def test_offline_provider_is_refused(tmp_path):
    with pytest.raises(cassia.ConfigError, match="needs a language model"):
        boost("offline", tmp_path)
    assert not (tmp_path / "boost").exists()  # refused before anything was written


def scripted_pipeline(boost_replies):
    formatted = {"mystery": FIRST.model_dump(), "t": {"main_cell_type": "T cell", "sub_cell_types": ["naive T cell"],
                                                      "mixed_cell_types": [], "key_markers": ["CD3D"]}}
    scores = {"mystery": 40, "t": 90}

    def reply(request):
        cluster = request.context["cluster"]
        if request.task == "annotator":
            return f"Cluster {cluster}: my answer."
        if request.task == "review":  # the verdict and the record in one answer
            return {"consistent": True, "concerns": [], "feedback": "ok", **formatted[cluster]}
        if request.task == "scorer":
            rescoring = "Annotation Boost then re-examined" in request.messages[0].content
            return {"score": 85 if rescoring else scores[cluster], "reasoning": "graded",
                    "possible_mixed_population": False}
        return boost_replies[request.context["boost_round"] - 1]

    return ScriptedProvider(reply)


def test_pipeline_boosts_low_scores_and_writes_them_back(tmp_path):
    provider = scripted_pipeline([CHECK, CONCLUDE])
    run = cassia.run_pipeline(MARKERS, tissue="large intestine", provider=provider, out_dir=tmp_path / "run",
                              progress=False, use_cache=False, n_genes=5)
    boosted = {c.context["cluster"] for c in provider.calls if c.task == "boost"}
    assert boosted == {"mystery"}
    summary = pd.read_csv(run.run_dir / "summary.csv", dtype={"Cluster ID": str}).set_index("Cluster ID")
    assert bool(summary.loc["mystery", "Boosted"]) and not bool(summary.loc["t", "Boosted"])
    assert summary.loc["mystery", "Predicted General Cell Type"] == "glial cell"
    assert summary.loc["t", "Predicted General Cell Type"] == "T cell"
    # the boosted answer is scored again, with the boost's gene checks in front of the Scorer
    assert summary.loc["mystery", "Score"] == 85 and summary.loc["t", "Score"] == 90
    rescore = [c for c in provider.calls if c.task == "scorer" and c.context["cluster"] == "mystery"][-1]
    assert "Genes it checked" in rescore.messages[0].content and "glial cell" in rescore.messages[0].content
    stored = {r.cluster: r for r in read_results(run.run_dir)}
    assert stored["mystery"].original_score.score == 40
    assert stored["mystery"].original_annotation.main_cell_type == "monocyte"
    assert stored["mystery"].stages["boost"].calls == 2 and "annotator" in stored["mystery"].stages
    assert len((run.run_dir / "results.jsonl").read_text().splitlines()) == 3  # boosted line appended
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert manifest["boost"]["boosted"] == ["mystery"] and manifest["boost"]["below_threshold"] == ["mystery"]
    cluster_page = (run.run_dir / "clusters" / f"{slug('mystery')}.html").read_text()
    assert f"boost/{slug('mystery')}.html" in cluster_page
    assert (run.run_dir / "boost" / f"{slug('mystery')}.html").exists()

    # resuming the finished run neither re-annotates nor re-boosts
    idle = ScriptedProvider({})
    resumed = cassia.run_pipeline(MARKERS, tissue="large intestine", provider=idle, out_dir=run.run_dir,
                                  resume=True, progress=False, use_cache=False, n_genes=5)
    assert idle.calls == [] and {r.cluster: r.boosted for r in resumed.results} == {"mystery": True, "t": False}

    # boosting another cluster of the same run on request appends to it and refreshes the summary
    # (with a conclusion from t's own genes: the glial one would cite genes t lacks and fail the checks)
    t_cell = {"annotation": {"main_cell_type": "T cell", "sub_cell_types": ["naive T cell"], "mixed_cell_types": [],
                             "key_markers": ["CD3D", "IL7R"]},
              "confidence": "high", "summary": "CD3D, CD3E and IL7R are enriched.", "answer": ""}
    again = run_annotation_boost(MARKERS, "t", run_dir=run.run_dir, progress=False, use_cache=False,
                                 provider=ScriptedProvider({"boost": [{**CONCLUDE, "conclusion": t_cell}]}))
    assert again.original_annotation.main_cell_type == "T cell"
    summary = pd.read_csv(run.run_dir / "summary.csv", dtype={"Cluster ID": str}).set_index("Cluster ID")
    assert summary["Boosted"].all()
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert sorted(manifest["boost"]["boosted"]) == ["mystery", "t"]


def test_pipeline_through_the_fake_server(fake_server, tmp_path):
    fake_server.add_rule(lambda r: "grade the quality" in r.text and "SOX10" in r.text,
                         {"score": 30, "reasoning": "weak", "possible_mixed_population": False})
    fake_server.add_rule("You re-examine the cell-type annotation", CONCLUDE)
    run = cassia.run_pipeline(MARKERS, tissue="large intestine", provider=fake_server.url, out_dir=tmp_path / "run",
                              progress=False, use_cache=False, n_genes=5)
    frame = run.to_frame().set_index("Cluster ID")
    assert bool(frame.loc["mystery", "Boosted"]) and frame.loc["mystery", "Predicted General Cell Type"] == "glial cell"
    assert not bool(frame.loc["t", "Boosted"])
    boost_requests = [r for r in fake_server.requests if "You re-examine" in r.text]
    assert len(boost_requests) == 1
    assert boost_requests[0].body["response_format"]["json_schema"]["name"] == "BoostStep"


def test_rescoring_a_boosted_run_shows_the_scorer_what_the_boost_found(tmp_path):
    run = cassia.run_pipeline(MARKERS, tissue="large intestine", provider=scripted_pipeline([CHECK, CONCLUDE]),
                              out_dir=tmp_path / "run", progress=False, use_cache=False, n_genes=5)
    scorer = ScriptedProvider({"scorer": [{"score": 77, "reasoning": "again", "possible_mixed_population": False}]})
    cassia.run_score_batch(run.run_dir, provider=scorer, rescore=True, progress=False, use_cache=False)
    prompts = {c.context["cluster"]: c.messages[0].content for c in scorer.calls}
    assert "Genes it checked" in prompts["mystery"] and "Genes it checked" not in prompts["t"]
