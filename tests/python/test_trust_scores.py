"""Issue 14: every Scorer scores the annotation it is given (offline: the evidence for the named type)."""

from __future__ import annotations

import pytest

from cassia.knowledge.named import named_support
from cassia.testing import ScriptedProvider

T_CELLS = ["CD3D", "CD3E", "CD2", "IL7R", "LTB", "CD27", "CCR7", "LEF1", "TCF7", "MAL"]
RANDOM = ["GAPDH", "ZNF124", "OR5A1", "SLC2A9", "TTN", "MYH7B", "KRT99", "PCDHB7", "ADAMTS20", "C9orf72"]


@pytest.mark.parametrize("right, wrong", [("T cell", "B cell"), ("T cell", "monocyte"),
                                          ("CD4-positive, alpha-beta T cell", "plasma cell")])
def test_offline_support_for_the_named_type(right, wrong):
    assert named_support(right, T_CELLS).score >= 60
    assert named_support(wrong, T_CELLS).score <= 10


def test_unknown_fits_random_genes_and_not_a_clear_cluster():
    assert named_support("Unknown", RANDOM).score > named_support("T cell", RANDOM).score
    assert named_support("Unknown", T_CELLS).score < named_support("T cell", T_CELLS).score


def test_disease_qualified_names_are_judged_by_their_cell_type():
    macrophage = ["CD68", "CD163", "C1QA", "C1QB", "APOE", "MRC1", "CD14", "SPP1"]
    assert named_support("Tumor-associated macrophages", macrophage).resolved == "macrophage"
    assert named_support("Tumor-associated macrophages", macrophage).score >= 60


def test_offline_scorer_scores_the_given_annotation_same_cluster_right_and_wrong(tmp_path):
    """The reported case: 'B cell' for CD3D/CD3E/CD2... scored 89 because the offline Scorer scored its own call."""
    from cassia.agents.scorer import score
    from cassia.agents.session import ClusterSession
    from cassia.models import FormatterOutput
    from cassia.providers.offline import OfflineProvider
    from cassia.workflows.engine import run_sync

    session = ClusterSession(cluster="1", markers=T_CELLS, tissue="blood")
    provider = OfflineProvider()

    def graded(general, subtypes):
        answer = FormatterOutput(main_cell_type=general, sub_cell_types=subtypes, mixed_cell_types=[], key_markers=[])
        return run_sync(lambda: score(session, provider, [], answer))

    right = graded("T cell", ["CD4-positive, alpha-beta T cell"])
    wrong = graded("B cell", ["naive B cell"])
    assert right.score >= 60 and wrong.score <= 10
    assert "B cell" in wrong.reasoning


def test_llm_scorer_is_told_to_grade_the_named_answer(tmp_path):
    provider = ScriptedProvider({"scorer": [{"score": 10, "reasoning": "B cell is contradicted.",
                                             "possible_mixed_population": False}]})
    from cassia.agents.scorer import score
    from cassia.agents.session import ClusterSession
    from cassia.models import FormatterOutput
    from cassia.workflows.engine import run_sync

    answer = FormatterOutput(main_cell_type="B cell", sub_cell_types=[], mixed_cell_types=[], key_markers=[])
    run_sync(lambda: score(ClusterSession(cluster="1", markers=T_CELLS), provider, [], answer))
    call = provider.calls[0]
    assert "Final annotation: B cell" in call.messages[0].content
    assert "not the cell type you would have chosen" in call.system
    assert call.context["annotation"] == "B cell"
