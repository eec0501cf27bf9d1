"""The CS formula on hand-computed cases (default weights: general 0.7, subtype 0.3)."""

from __future__ import annotations

import pytest
from cassia.errors import InputError
from cassia.ontology.compare import consensus_value, display_name, text_key
from cassia.workflows.uncertainty import Weights, cl_key, similarity_score


def cs(pairs, weights=(0.7, 0.3)):
    return similarity_score(pairs, weights)


def test_all_runs_agree_scores_100():
    result = cs([("A", "a")] * 5)
    assert result.score == 100 and result.general == "A" and result.subtype == "a"
    assert result.general_fraction == 1 and result.subtype_fraction == 1 and result.answered == 5


def test_all_runs_different_only_the_first_matches():
    # G = A, S = a by first appearance; run 1 scores 1.0, the others 0 -> 100 / 3
    result = cs([("A", "a"), ("B", "b"), ("C", "c")])
    assert result.general == "A" and result.subtype == "a"
    assert result.score == pytest.approx(100 / 3)
    assert result.per_run == (1.0, 0.0, 0.0)
    assert result.general_fraction == pytest.approx(1 / 3)


def test_two_way_tie_goes_to_first_appearance():
    result = cs([("A", "a"), ("B", "b")])
    assert (result.general, result.subtype) == ("A", "a")
    assert result.score == pytest.approx(50)


def test_tie_with_partial_matches():
    # general: B 2, A 2 -> B (seen first); subtype: x 2, y 2 -> x
    # runs: (B,x) 0.7+0.3=1.0, (A,y) 0, (A,x) 0.3, (B,y) 0.7 -> mean 0.5
    result = cs([("B", "x"), ("A", "y"), ("A", "x"), ("B", "y")])
    assert (result.general, result.subtype) == ("B", "x")
    assert result.per_run == pytest.approx((1.0, 0.0, 0.3, 0.7))
    assert result.score == pytest.approx(50)


def test_swapped_general_and_subtype_count_at_the_product_of_weights():
    # G = A, S = a; run 3 (a, A): general == S -> 0.21, subtype == G -> 0.21
    result = cs([("A", "a"), ("A", "a"), ("a", "A")])
    assert result.per_run[2] == pytest.approx(0.42)
    assert result.score == pytest.approx(100 * (1 + 1 + 0.42) / 3)  # 80.67


def test_one_sided_swap():
    # G = T, S = CD8; run 3 says (CD8, CD8): general == S -> 0.21, subtype == S -> 0.3
    result = cs([("T", "CD8"), ("T", "CD8"), ("CD8", "CD8")])
    assert result.per_run[2] == pytest.approx(0.51)
    assert result.score == pytest.approx(100 * 2.51 / 3)


def test_equal_weights_swap():
    # weights 0.5/0.5: (a, A) against G = A, S = a -> 0.25 + 0.25 = 0.5 of a maximum of 1
    result = cs([("A", "a"), ("a", "A")], weights=(0.5, 0.5))
    assert result.score == pytest.approx(75)


def test_single_run_is_fully_consistent():
    assert cs([("A", "a")]).score == 100
    assert cs([("A", None)]).score == 100


def test_no_subtype_anywhere_scores_the_general_type_only():
    # S is None: the subtype part follows the general part; runs 1.0, 1.0, 0 -> 66.7. (It used to
    # credit every run with w_s: 76.7, above the threshold, for any two of three agreeing by chance.)
    result = cs([("A", None), ("A", None), ("B", None)])
    assert result.subtype is None and result.subtype_fraction is None
    assert result.score == pytest.approx(200 / 3)
    assert result.per_run == pytest.approx((1.0, 1.0, 0.0))
    assert cs([("A", None), ("B", None), ("C", None)]).score == pytest.approx(100 / 3)


def test_a_run_without_subtype_loses_the_subtype_part():
    assert cs([("A", "a"), ("A", None)]).score == pytest.approx(85)


def test_runs_without_an_answer_are_left_out():
    result = cs([("A", "a"), (None, None), ("A", "a")])
    assert result.score == 100 and result.answered == 2 and result.per_run[1] is None
    empty = cs([(None, None), (None, None)])
    assert empty.score is None and empty.general is None and empty.answered == 0


def test_weights_validation_and_forms():
    assert Weights.of({"general": 0.6, "subtype": 0.4}) == Weights(0.6, 0.4)
    assert Weights.of([0.8, 0.2]) == Weights(0.8, 0.2)
    with pytest.raises(InputError, match="weight"):
        Weights(-0.1, 0.3)
    with pytest.raises(InputError, match="both be 0"):
        Weights(0, 0)
    with pytest.raises(InputError, match="pair"):
        Weights.of((0.7,))


def test_consensus_value_ties_and_missing():
    assert consensus_value(["b", "a", "a", "b"]) == "b"
    assert consensus_value([None, "x", None]) == "x"
    assert consensus_value([None]) is None


def test_ontology_keys_unify_synonyms_and_keep_unmapped_text():
    assert cl_key("CD8+ T cells") == cl_key("CD8-positive, alpha-beta T cell") == "CL:0000625"
    assert cl_key("NK cells") == cl_key("natural killer cell")
    assert cl_key("  Zorblax   Cell ") == "zorblax cell" == text_key("zorblax cell.")
    assert cl_key(None) is None and cl_key(float("nan")) is None and cl_key("  ") is None
    assert display_name("CL:0000625") == "CD8-positive, alpha-beta T cell"
    assert display_name("zorblax cell", ["Zorblax Cell"]) == "Zorblax Cell"


def test_cs_cl_after_ontology_unification():
    runs = [("T cells", "CD8+ T cells"), ("T cell", "CD8-positive, alpha-beta T cell"), ("t-cell", "CD8 T cell")]
    result = similarity_score([(cl_key(g), cl_key(s)) for g, s in runs])
    assert result.general == "CL:0000084"
    assert result.score == 100
