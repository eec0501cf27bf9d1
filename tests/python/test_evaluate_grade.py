"""Grading rules of cassia.evaluate.grade on hand-made cases, and the LLM judge."""

from __future__ import annotations

import pytest

from cassia.errors import InputError
from cassia.evaluate import RULES, Judge, grade
from cassia.evaluate.categories import category_of


@pytest.mark.parametrize("predicted, gold", [
    ("T cell", "T cell"),
    ("T cells", "CL:0000084"),                             # plural name against an ID
    ("CD8+ T cells", "CD8-positive, alpha-beta T cell"),     # synonym/normalised name
    ("B lymphocyte", "B cell"),                             # CL synonym
    ("natural killer cell", "CL_0000623"),                  # underscore ID form
])
def test_same_term_is_fully_correct(predicted, gold):
    result = grade(predicted, gold)
    assert result.score == 1.0
    assert result.rule in ("same_term", "same_name")
    assert result.predicted_id == result.gold_ids[0]


def test_one_step_on_the_tree_is_partial():
    # A parent across categories too: "lymphocyte" for a T cell is one step up.
    assert (grade("lymphocyte", "T cell").score, grade("lymphocyte", "T cell").rule) == (0.5, "one_step")
    result = grade("mature alpha-beta T cell", "CD4-positive, alpha-beta T cell")  # parent of the gold
    assert (result.score, result.rule) == (0.5, "one_step")


def test_general_category_for_a_specific_gold_is_partial():
    result = grade("epithelial cell", "BEST4+ enterocyte")
    assert (result.score, result.rule) == (0.5, "general_category")
    assert result.gold_category == "epithelial cell"
    assert grade("T cell", "CD8-positive, alpha-beta T cell").score == 0.5


def test_same_broad_category_is_partial_and_neighbours_too():
    assert grade("regulatory T cell", "CD8-positive, alpha-beta T cell").rule == "same_category"
    assert grade("monocyte", "Kupffer cell").score == 0.5
    related = grade("macrophage", "dendritic cell")
    assert (related.score, related.rule) == (0.5, "related_category")


@pytest.mark.parametrize("predicted, gold", [
    ("B cell", "T cell"),
    ("hepatocyte", "fibroblast"),
    ("neuron", "macrophage"),
    ("lymphocyte", "monocyte"),
])
def test_different_lineages_are_incorrect(predicted, gold):
    result = grade(predicted, gold)
    assert (result.score, result.rule) == (0.0, "different_category")


@pytest.mark.parametrize("predicted", ["Unknown", "", None, float("nan"), "Proliferating cells",
                                       "Non-coding RNA / regulatory elements"])
def test_no_cell_type_is_incorrect(predicted):
    result = grade(predicted, "T cell")
    assert (result.score, result.rule) == (0.0, "no_call")


def test_an_unmappable_prediction_is_a_mismatch_and_an_unmappable_gold_is_not_graded():
    result = grade("Zorblax quux cells", "T cell")
    assert result.score == 0.0 and result.rule == "unmapped_predicted"
    assert "Zorblax" in result.reason and result.graded
    gold_side = grade("T cell", "Zorblax quux cells")
    assert gold_side.score is None and gold_side.rule == "unmapped_gold" and not gold_side.graded
    # neither side readable: nothing to grade against
    assert grade("Zorblax quux cells", "Blorp cells").score is None


def test_several_gold_ids_any_counts():
    result = grade("B cell", ["CL:0000084", "CL:0000236"])
    assert result.score == 1.0
    assert result.gold_ids == ("CL:0000084", "CL:0000236")
    assert grade("NK cell", ["CL:0000236", "hepatocyte"]).score == 0.0


def test_hedged_prediction_and_combined_gold_earn_at_most_half():
    assert (grade("Monocytes/Macrophages", "macrophage").score, grade("Monocytes/Macrophages", "macrophage").rule) \
        == (0.5, "partial_combined")
    assert grade("monocyte", "Monocyte/macrophage").score == 0.5
    assert grade("Macrophages / Monocytes", "Monocyte/macrophage").score == 1.0  # the same pair


def test_category_only_names_get_partial_credit_never_full():
    # "Excitatory neurons" maps to no single CL term above the threshold, but all its good
    # candidates are neurons: a neuron gold earns 0.5, a T cell gold 0.
    assert grade("GABAergic neuron", "Excitatory neurons").score in (0.5,)
    assert grade("T cell", "Excitatory neurons").score == 0.0


def test_rules_are_documented_and_rows_flatten():
    result = grade("T cells", "CD4-positive, alpha-beta T cell")
    assert result.rule in RULES
    row = result.as_row()
    assert row["score"] == 0.5 and row["predicted_label"] == "T cell"


def test_gold_must_be_given():
    with pytest.raises(InputError):
        grade("T cell", [])


def test_categories_follow_the_ontology():
    assert category_of("CL:0000625").name == "T/NK cell"        # CD8 ab T cell
    assert category_of("CL:0000786").name == "B cell"           # plasma cell
    assert category_of("CL:0000169").name == "epithelial cell"  # pancreatic beta cell, not "neuron"


def test_llm_judge_grades_unmapped_names_and_is_cached(fake_server, tmp_path):
    fake_server.add_rule("Zorblax", {"reasoning": "A made-up name for a T cell subset.", "verdict": "partially correct"})
    judge = Judge(fake_server.url, "fake-model", cache_path=tmp_path / "cache.sqlite")
    result = grade("Zorblax quux cells", "T cell", judge=judge)
    assert (result.score, result.rule) == (0.5, "llm_judge")
    assert "made-up" in result.judge_reasoning and "LLM judge" in result.reason
    assert len(fake_server.requests) == 1
    body = fake_server.requests[0].body
    assert body["response_format"]["type"] == "json_schema"  # a structured verdict
    # A new judge on the same cache answers from it: no second request.
    again = grade("Zorblax quux cells", "T cell", judge=Judge(fake_server.url, "fake-model",
                                                              cache_path=tmp_path / "cache.sqlite"))
    assert again.score == 0.5 and len(fake_server.requests) == 1
    # Mappable names never reach the judge.
    assert grade("B cell", "T cell", judge=judge).rule == "different_category"
    assert len(fake_server.requests) == 1


def test_names_of_several_organs_carry_only_their_category():
    # "stellate cells" of the liver or the pancreas: fibroblast-like, no single ontology term
    assert grade("Fibroblasts", "activated stellate").score == 0.5
    assert grade("Pancreatic stellate cell", "quiescent stellate").score == 0.5  # never full credit
    assert grade("T cells", "Stellate cells").score == 0.0
    assert grade("hepatic stellate cell", "hepatic stellate cell").score == 1.0  # the term itself


def test_a_greek_letter_is_a_name_not_a_no_call():
    result = grade("δ cell", "pancreatic D cell")
    assert result.rule != "no_call" and result.score == 1.0


def test_a_compound_gold_with_a_one_word_precursor():
    result = grade("B cells", "preB/T")  # was read as "T" alone: a mismatch
    assert result.score == 0.5 and "CL:0000817" in result.gold_ids
