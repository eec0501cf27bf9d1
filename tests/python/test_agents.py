"""The agent team on the scripted in-process provider: validation loop, formatting, scoring."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import cassia
from cassia.errors import ModelOutputError
from cassia.testing import ScriptedProvider

MARKERS = pd.DataFrame({
    "cluster": ["t"] * 4 + ["b"] * 4,
    "gene": ["CD3D", "CD3E", "CD2", "IL7R", "MS4A1", "CD79A", "CD19", "BANK1"],
    "avg_log2FC": [3.0, 2.5, 2.0, 1.5, 3.0, 2.5, 2.0, 1.5],
    "p_val_adj": [1e-10] * 8,
    "pct.1": [0.9] * 8,
    "pct.2": [0.1] * 8,
})

FORMATTED = {"main_cell_type": "T cell", "sub_cell_types": ["naive thymus-derived CD4-positive, alpha-beta T cell",
             "CD8-positive, alpha-beta T cell", "regulatory T cell", "extra"], "mixed_cell_types": [],
             "key_markers": ["CD3D", "CD3E"]}
# one review call answers the verdict and the record together
PASS = {"consistent": True, "concerns": [], "feedback": "Sound.", **FORMATTED}
FAIL = {**FORMATTED, "consistent": False, "concerns": ["IL7R alone cannot decide the subtype"],
        "feedback": "Weigh CD2 and IL7R together."}
SCORED = {"score": 88, "reasoning": "Several top markers agree.", "possible_mixed_population": False}


def scripted(**per_task):
    replies = {"annotator": ["The leading markers of the list agree: T cell."], "review": [PASS],
               "scorer": [SCORED]}
    replies.update(per_task)
    return ScriptedProvider(replies)


def run(provider, tmp_path, *, pipeline=True, **kwargs):
    runner = cassia.run_pipeline if pipeline else cassia.run_batch
    options = {"tissue": "blood", "species": "human", "progress": False, "use_cache": False, **kwargs}
    return runner(MARKERS, provider=provider, out_dir=tmp_path / "run", **options)


def by_cluster(result):
    return {r.cluster: r for r in result.results}


def test_validation_passes_first_time(tmp_path):
    provider = scripted()
    result = run(provider, tmp_path)
    t = by_cluster(result)["t"]
    assert t.status == "ok" and t.validated and t.iterations == 1
    assert t.annotation.main_cell_type == "T cell"
    assert len(t.annotation.sub_cell_types) == 3  # the record keeps three subtypes at most
    assert t.score.score == 88
    # two calls per cluster that passes first time (annotate, review), plus the score
    assert [c.task for c in provider.calls if c.context["cluster"] == "t"] == ["annotator", "review", "scorer"]
    assert {name: s.calls for name, s in t.stages.items()} == {"annotator": 1, "review": 1, "scorer": 1}
    assert t.validation[0].llm.cited_genes == []  # the code's reading of the cited genes (none here)


def test_failed_review_goes_back_to_annotator_then_passes(tmp_path):
    provider = scripted(annotator=["First try: T cell.", "Revised: T cell, with CD2."], review=[FAIL, PASS])
    result = run(provider, tmp_path, clusters=["t"])
    t = result.results[0]
    assert t.validated and t.iterations == 2
    assert [r.passed for r in t.validation] == [False, True]
    second_annotator_call = [c for c in provider.calls if c.task == "annotator"][1]
    feedback = second_annotator_call.messages[-1].content
    assert "Weigh CD2 and IL7R together." in feedback and "IL7R alone cannot decide" in feedback
    assert [m.role for m in t.conversation] == ["system", "user", "assistant", "user", "assistant"]
    assert [c.task for c in provider.calls][:4] == ["annotator", "review", "annotator", "review"]
    # the second review reads the revised answer, once, in the user message only
    second_review = [c for c in provider.calls if c.task == "review"][1]
    assert "Revised: T cell, with CD2." in second_review.messages[0].content
    assert "Revised" not in second_review.system and "First try" not in second_review.messages[0].content


def test_malformed_review_record_is_repaired_once(tmp_path):
    provider = scripted(review=["not JSON {", {**PASS, "main_cell_type": " "}, PASS])
    result = run(provider, tmp_path, clusters=["t"], pipeline=False)
    t = result.results[0]
    assert t.status == "failed" and "ModelOutputError" in t.error  # broken twice: one repair, then a failure
    provider = scripted(review=["not JSON {", PASS])
    result = run(provider, tmp_path / "again", clusters=["t"], pipeline=False)
    t = result.results[0]
    assert t.status == "ok" and t.validated and t.annotation.main_cell_type == "T cell"
    reviews = [c for c in provider.calls if c.task == "review"]
    assert len(reviews) == 2 and "could not be used" in reviews[1].messages[-1].content
    assert t.stages["review"].calls == 1  # one review call, repaired within it


def test_empty_cell_type_in_the_record_is_malformed():
    with pytest.raises(ValueError, match="main_cell_type is empty"):
        cassia.models.ReviewOutput(**{**PASS, "main_cell_type": ""})


def test_never_passing_review_ends_in_diagnosis(tmp_path):
    provider = scripted(review=[FAIL])
    result = run(provider, tmp_path, clusters=["t"], validator_rounds=3)
    t = result.results[0]
    assert not t.validated and t.iterations == 3
    assert [c.task for c in provider.calls].count("review") == 3  # no extra call for the diagnosis
    assert t.annotation is None and t.diagnosis.main_cell_type == "T cell"
    # what went wrong comes from the last round's reasons, what to do from the reviewer and the code
    assert "IL7R alone cannot decide" in t.diagnosis.what_went_wrong and "3 attempt" in t.diagnosis.what_went_wrong
    assert t.diagnosis.what_to_do.startswith("Weigh CD2 and IL7R together.")
    row = result.to_frame().iloc[0]
    assert row["Predicted General Cell Type"] == "T cell" and not row["Validated"]


def test_invented_gene_fails_validation_even_when_model_says_consistent(tmp_path):
    # the reviewer lists no invented gene and calls it consistent; the code reads the text
    provider = scripted(annotator=["CD3D, CD3E and FOXP3 point to regulatory T cells.", "CD3D and CD3E: T cell."],
                        review=[PASS, PASS])
    result = run(provider, tmp_path, clusters=["t"])
    first = result.results[0].validation[0]
    assert not first.passed and first.invented_genes == ["FOXP3"]
    assert any("FOXP3" in reason for reason in first.reasons)
    assert result.results[0].iterations == 2 and result.results[0].validated


def test_a_name_outside_the_ontology_is_a_note_not_a_rejection(tmp_path):
    nonsense = {**PASS, "main_cell_type": "zorblax cell"}
    provider = scripted(review=[nonsense, PASS])
    result = run(provider, tmp_path, clusters=["t"])
    first = result.results[0].validation[0]
    assert first.unknown_cell_type and first.passed and first.notes
    assert result.results[0].validated and result.results[0].iterations == 1


def test_malformed_output_fails_one_cluster_and_the_run_goes_on(tmp_path):
    def reply(request):
        if request.task == "review" and request.context["cluster"] == "b":
            return "this is not JSON {"
        return {"annotator": "T cell by the leading markers.", "review": PASS, "scorer": SCORED}[request.task]

    result = run(ScriptedProvider(reply), tmp_path)
    clusters = by_cluster(result)
    assert clusters["t"].status == "ok"
    assert clusters["b"].status == "failed" and "ModelOutputError" in clusters["b"].error
    assert clusters["b"].stages["annotator"].calls == 1  # what the failed cluster spent is kept
    assert result.manifest["status"] == "partial"
    summary = pd.read_csv(result.run_dir / "summary.csv", dtype={"Cluster ID": str})
    assert set(summary["Cluster ID"]) == {"t", "b"}


def test_tissue_blind_and_cancer_aware_prompts(tmp_path):
    provider = scripted()
    run(provider, tmp_path, clusters=["t"], tissue=None, cancer_aware=True)
    first = [c for c in provider.calls if c.task == "annotator"][0]
    assert "Tissue: not specified" in first.messages[0].content
    assert "malignant" in first.system
    provider = scripted()
    run(provider, tmp_path / "second", clusters=["t"], tissue="lung")
    first = [c for c in provider.calls if c.task == "annotator"][0]
    assert "Tissue: lung" in first.messages[0].content and "malignant" not in first.system


def test_per_stage_providers(tmp_path):
    annotate = scripted()
    score = ScriptedProvider({"scorer": [SCORED]})
    result = run(annotate, tmp_path, scoring_provider=score)
    assert {c.task for c in annotate.calls} == {"annotator", "review"}
    assert {c.task for c in score.calls} == {"scorer"}
    assert set(result.results[0].stages) == {"annotator", "review", "scorer"}


def test_run_directory_contents(tmp_path):
    result = run(scripted(), tmp_path)
    run_dir = result.run_dir
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"] == {"clusters": 2, "ok": 2, "failed": 0, "missing": 0}
    assert manifest["boost"]["status"] == "skipped"
    transcripts = list((run_dir / "transcripts").rglob("*.json"))
    assert len(transcripts) == 6  # annotator, review, scorer for each cluster
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary.columns[:13]) == cassia.store.SUMMARY_COLUMNS[:13]
    assert (run_dir / "report.html").exists()


def test_batch_does_not_score_and_score_batch_does(tmp_path):
    provider = scripted()
    batch = run(provider, tmp_path, pipeline=False)
    assert all(r.score is None for r in batch.results)
    assert "scorer" not in {c.task for c in provider.calls}
    scored = cassia.run_score_batch(batch.run_dir, provider=scripted(), progress=False, use_cache=False)
    assert sorted(r.score.score for r in scored.results) == [88, 88]
    assert (batch.run_dir / "report.html").exists()


def test_scoring_failure_keeps_the_annotation(tmp_path):
    provider = scripted(scorer=[ModelOutputError("broken scorer reply")])
    result = run(provider, tmp_path, clusters=["t"])
    t = result.results[0]
    assert t.status == "ok" and t.annotation is not None and t.score is None
    assert "scoring failed" in t.error


def test_results_are_read_lazily_from_the_run_directory(tmp_path):
    result = run(scripted(), tmp_path)
    again = cassia.RunResult(result.run_dir, clusters=["b"])
    assert [r.cluster for r in again.results] == ["b"]
    assert list(again.to_frame()["Cluster ID"]) == ["b"]


def test_existing_run_directory_needs_resume(tmp_path):
    run(scripted(), tmp_path)
    with pytest.raises(cassia.InputError, match="resume"):
        run(scripted(), tmp_path)
    again = scripted()
    result = run(again, tmp_path, resume=True)
    assert again.calls == [] and len(result.results) == 2


def test_review_schema_is_compact():
    """The schema goes out with every review call: no property titles, no descriptions the prompt repeats."""
    from cassia.providers.structured import strict_schema

    schema = strict_schema(cassia.models.ReviewOutput)
    assert all(set(prop) <= {"type", "items"} for prop in schema["properties"].values())
    system = (cassia.prompts.render("review_system.j2"))
    assert all(name in system for name in schema["properties"])  # the prompt says what each field holds
