"""Issue 14, case 5: Annotation Boost says what evidence it has, and its answer passes the hard checks.

With only a processed ranked list the prompts and the gene answers say that genes outside the list
cannot be checked (never "not reported as differentially expressed", never "the full table holds N
genes"); a boosted conclusion citing genes the cluster lacks fails the boost visibly and the first
answer is kept.
"""

from __future__ import annotations

import cassia
import pandas as pd
from cassia.models import ClusterResult, FormatterOutput, ScorerOutput
from cassia.store import read_results
from cassia.testing import ScriptedProvider
from cassia.workflows.boost import query_genes, run_annotation_boost

GENES = ["SOX10", "PLP1", "CDH19", "S100B", "MPZ", "GAPDH"]
STATS = pd.DataFrame({"cluster": ["g"] * 6, "gene": GENES, "avg_log2FC": [2.5, 2.2, 1.9, 1.7, 1.1, 0.3],
                      "pct.1": [0.9] * 6, "pct.2": [0.1] * 6, "p_val_adj": [1e-20] * 6})
RANKED = pd.DataFrame({"cluster": ["g"], "markers": [", ".join(GENES)]})  # a processed list: no statistics
FIRST = FormatterOutput(main_cell_type="monocyte", sub_cell_types=[], mixed_cell_types=[], key_markers=["S100B"])
PREVIOUS = ClusterResult(cluster="g", status="ok", markers=GENES, species="human", annotation=FIRST, validated=True,
                         score=ScorerOutput(score=30, reasoning="weak", possible_mixed_population=False))
CHECK = {"reasoning": "Glia or myeloid?", "verdicts": [], "action": "check", "conclusion": None,
         "checks": [{"hypothesis": "glia", "genes": ["SOX10", "PLP1", "CD14"], "rationale": "lineage"}]}


def conclude(summary, key_markers, main="glial cell"):
    return {"reasoning": "Settled.", "verdicts": [], "action": "conclude", "checks": [],
            "conclusion": {"annotation": {"main_cell_type": main, "sub_cell_types": [], "mixed_cell_types": [],
                                          "key_markers": key_markers},
                           "confidence": "high", "summary": summary, "answer": ""}}


def boost(markers, replies, tmp_path):
    provider = ScriptedProvider({"boost": replies})
    result = run_annotation_boost(markers, "g", previous=PREVIOUS, provider=provider, out_dir=tmp_path / "b",
                                  progress=False, use_cache=False)
    return result, [c for c in provider.calls if c.task == "boost"]


def test_a_ranked_list_is_not_presented_as_statistics(tmp_path):
    result, calls = boost(RANKED, [CHECK, conclude("SOX10 and PLP1 lead the list.", ["SOX10", "PLP1"])], tmp_path)
    assert result.status == "ok" and result.details.evidence == "ranked list"
    system, start, answers = calls[0].system, calls[0].messages[0].content, calls[1].messages[-1].content
    for text in (system, start, answers):
        assert "not reported as differentially expressed" not in text
        assert "full table" not in text
    assert "cannot be checked" in system and "cannot be checked" in start
    assert "CD14: not in this cluster's ranked list; genes outside the list cannot be checked" in answers
    assert "PLP1: in the cluster's ranked list, position 2 of 6" in answers
    assert "cannot be checked" in result.page.read_text()
    # query_genes answers from the same list: found or not, with no statistics
    frame = query_genes(RANKED, "g", ["PLP1", "CD14"])
    assert list(frame["found"]) == [True, False] and frame["avg_log2FC"].isna().all()


def test_full_statistics_are_said_to_be_statistics(tmp_path):
    result, calls = boost(STATS, [CHECK, conclude("SOX10 and PLP1 are enriched; CD14 is absent.", ["SOX10"])], tmp_path)
    assert result.status == "ok" and result.details.evidence == "statistics"
    assert "The full table of this cluster holds 6 genes" in calls[0].messages[0].content
    assert "CD14: not in this cluster's table" in calls[1].messages[-1].content


def test_a_boosted_answer_citing_genes_the_cluster_lacks_fails_and_keeps_the_first_answer(tmp_path):
    invented = conclude("CD3E and CD8A are strongly enriched: a T cell.", ["CD3E", "CD8A"], main="T cell")
    result, _ = boost(STATS, [invented], tmp_path)
    assert result.status == "failed" and result.annotation is None
    assert "did not pass the code's checks" in result.error and "CD3E" in result.error
    kept = result.result
    assert not kept.boosted and kept.annotation == FIRST and kept.error.startswith("boost failed:")
    assert read_results(result.run_dir)[-1].boost.status == "failed"
    summary = pd.read_csv(result.run_dir / "summary.csv", dtype={"Cluster ID": str}).iloc[0]
    assert not summary["Boosted"] and summary["Predicted General Cell Type"] == "monocyte"
    assert "boost failed" in summary["Error"]
    page = result.page.read_text()
    assert "The boost failed." in page and "Conclusion (not accepted)" in page
    # key markers the cluster lacks fail it too, even when the summary is clean
    result, _ = boost(STATS, [conclude("SOX10 is enriched.", ["SOX10", "CD68"])], tmp_path / "again")
    assert result.status == "failed" and "CD68" in result.error


def test_a_name_outside_the_cell_ontology_is_advice_not_a_failure(tmp_path):
    result, _ = boost(STATS, [conclude("SOX10 and PLP1 are enriched.", ["SOX10"], main="Doublets")], tmp_path)
    assert result.status == "ok" and result.result.boosted
    assert any(note.startswith("Boost:") and "doublet" in note for note in result.result.notes)


def test_the_pipeline_keeps_the_first_answer_and_score_when_the_boost_fails(tmp_path):
    def reply(request):
        if request.task == "annotator":
            return "S100B with SOX10: glial lineage."
        if request.task == "review":
            return {"consistent": True, "concerns": [], "feedback": "ok", **FIRST.model_dump()}
        if request.task == "scorer":
            return {"score": 30, "reasoning": "weak", "possible_mixed_population": False}
        return conclude("CD3E and CD8A are strongly enriched.", ["CD3E"], main="T cell")

    provider = ScriptedProvider(reply)
    run = cassia.run_pipeline(STATS, provider=provider, out_dir=tmp_path / "run", progress=False, use_cache=False)
    row = run.to_frame().iloc[0]
    assert not row["Boosted"] and row["Predicted General Cell Type"] == "monocyte" and row["Score"] == 30
    assert "did not pass the code's checks" in row["Error"]
    assert sum(c.task == "scorer" for c in provider.calls) == 1  # a rejected boost is not re-scored
    assert run.manifest["boost"]["failed"] == ["g"]
