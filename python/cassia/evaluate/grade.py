"""Grade a predicted cell type against a gold label on the Cell Ontology.

The hierarchical framework of GPTCelltype (Hou & Ji, Nature Methods 2024) and CASSIA:

* **1 (fully correct)**: both name the same CL term (synonyms and spelling variants map to
  one term); with several gold alternatives, matching any of them.
* **0.5 (partially correct)**: the two terms are one step apart on the CL is_a tree (parent
  and child), or the prediction is the general category of a more specific gold type
  ("epithelial cell" for a BEST4+ enterocyte), or both fall in the same broad category
  (:mod:`cassia.evaluate.categories`: two T cell subtypes, a monocyte for a macrophage), or
  in two neighbouring categories (a dendritic cell for a macrophage, a pericyte for a
  fibroblast).
  A prediction that hedges between several types, or that names only one part of a combined
  gold ("Monocyte/macrophage"), earns at most 0.5.
* **0 (incorrect)**: anything else, including "unknown" or an empty prediction, and a
  prediction that names no type the ontology knows (nor a broad category) while the gold is
  readable: the rubric counts a name that identifies no cell type as a mismatch. (Checked
  across datasets: people gave such predictions 0 in Tabula Sapiens and in Azimuth alike,
  see ``benchmarks/grader_agreement.py``.)
* **None (not graded)**: the gold label cannot be mapped to the ontology (nor to a broad
  category), so there is nothing to grade against. The reason is in :attr:`Grade.reason`; an
  optional LLM judge can grade unmapped names (either side), and its verdicts are marked
  ``rule == "llm_judge"`` so they are never mistaken for ontology grades.

The rule names (:data:`RULES`) say which case decided each grade.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import ontology
from ..errors import InputError
from .categories import related
from .names import Part, ReadLabel, read_label

if TYPE_CHECKING:
    from .judge import Judge

RULES = {
    "same_term": "both map to the same Cell Ontology term",
    "same_name": "the names are identical after normalising case and spacing",
    "one_step": "parent and child on the Cell Ontology is_a tree",
    "general_category": "the prediction is the broad category of a more specific gold type",
    "same_category": "different terms in the same broad category",
    "related_category": "neighbouring broad categories (e.g. dendritic cell and macrophage)",
    "partial_combined": "one part of a combined label matches (hedged prediction or mixed gold)",
    "different_category": "the two names fall in different broad categories",
    "no_call": "the prediction names no cell type (unknown, empty)",
    "no_gold": "the gold label names no cell type (unknown, empty), so nothing can be graded",
    "unmapped_predicted": "the prediction names no Cell Ontology type or broad category: a mismatch",
    "unmapped_gold": "the gold label could not be mapped to the Cell Ontology",
    "llm_judge": "graded by the LLM judge because a name could not be mapped",
}


@dataclass(frozen=True)
class Grade:
    """The grade of one prediction. ``score`` is 1, 0.5, 0, or None when not graded."""

    score: float | None
    rule: str
    predicted: str
    gold: tuple[str, ...]
    predicted_id: str | None = None
    gold_ids: tuple[str, ...] = ()
    predicted_category: str | None = None
    gold_category: str | None = None
    reason: str = ""
    judge_reasoning: str | None = None
    details: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def graded(self) -> bool:
        return self.score is not None

    def as_row(self) -> dict:
        """Flat columns for a table (gold values joined with " | ")."""
        return {
            "score": self.score,
            "rule": self.rule,
            "predicted_id": self.predicted_id,
            "predicted_label": ontology.label(self.predicted_id) if self.predicted_id else None,
            "gold_ids": ", ".join(self.gold_ids),
            "predicted_category": self.predicted_category,
            "gold_category": self.gold_category,
            "reason": self.reason,
            "judge_reasoning": self.judge_reasoning,
        }


def grade(
    predicted: str | None,
    gold: str | Sequence[str],
    *,
    judge: "Judge | None" = None,
    min_confidence: float = 0.8,
) -> Grade:
    """Grade ``predicted`` against ``gold`` (a CL ID or name, or a list of alternatives).

    >>> grade("CD8+ T cells", "CD8-positive, alpha-beta T cell").score   # doctest: +SKIP
    1.0
    >>> grade("T cell", "CL:0000625").rule                                # doctest: +SKIP
    'same_category'

    ``judge`` (see :class:`cassia.evaluate.Judge`) is asked only when a name cannot be mapped.
    """
    golds = _gold_list(gold)
    text = "" if predicted is None or _is_missing(predicted) else str(predicted)
    result = _grade_labels(text, golds, min_confidence)
    if judge is not None and result.rule in ("unmapped_predicted", "unmapped_gold"):
        verdict = judge.judge(text, list(golds))
        return Grade(
            score=verdict.score, rule="llm_judge", predicted=text, gold=golds,
            predicted_id=result.predicted_id, gold_ids=result.gold_ids,
            predicted_category=result.predicted_category, gold_category=result.gold_category,
            reason=f"{result.reason}; judged by {judge.describe()}",
            judge_reasoning=verdict.reasoning,
        )
    return result


def _gold_list(gold: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(gold, str):
        items = [gold]
    elif isinstance(gold, Sequence):
        items = [g for g in gold if not _is_missing(g)]
    else:
        raise InputError(f"gold must be a name, a CL ID or a list of them, got {type(gold).__name__}.")
    items = [str(g).strip() for g in items if str(g).strip()]
    if not items:
        raise InputError("gold is empty: give the expected cell type as a name or CL ID.")
    return tuple(items)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _grade_labels(text: str, golds: tuple[str, ...], min_confidence: float) -> Grade:
    gold_reads = [read_label(g, min_confidence=min_confidence) for g in golds]
    gold_ids = tuple(dict.fromkeys(p.cl_id for r in gold_reads for p in r.parts if p.cl_id))
    base = {"predicted": text, "gold": golds, "gold_ids": gold_ids}
    pred = read_label(text, min_confidence=min_confidence)
    if pred.no_call:
        return Grade(0.0, "no_call", reason=RULES["no_call"], **base)
    if all(r.no_call for r in gold_reads):
        return Grade(None, "no_gold", reason=RULES["no_gold"], **base)
    if _norm(text) in {_norm(g) for g in golds}:
        first = pred.parts[0] if pred.parts else None
        return Grade(1.0, "same_name", reason=RULES["same_name"], predicted_id=first and first.cl_id,
                     predicted_category=first and _cat(first), **base)
    usable_golds = [r for r in gold_reads if r.usable]
    if not usable_golds:
        return Grade(None, "unmapped_gold", reason=f"no Cell Ontology term or broad category was "
                     f"found for the gold label {' | '.join(golds)!r}", **base)
    if not pred.usable:
        return Grade(0.0, "unmapped_predicted", reason=f"no Cell Ontology term or broad category "
                     f"was found for the prediction {text!r}: it names no type the gold could match", **base)
    best: tuple[float, str, Part, Part] | None = None
    for gold_read in usable_golds:  # alternatives: the best one counts
        found = _grade_read(pred, gold_read)
        if best is None or found[0] > best[0]:
            best = found
    score, rule, p, g = best
    return Grade(score, rule, reason=RULES[rule], predicted_id=p.cl_id, predicted_category=_cat(p),
                 gold_category=_cat(g), **base)


def _grade_read(pred: ReadLabel, gold: ReadLabel) -> tuple[float, str, Part, Part]:
    pairs = [(p, g) for p in pred.usable for g in gold.usable]
    graded = [(*_grade_pair(p, g), p, g) for p, g in pairs]
    score, rule, p, g = max(graded, key=lambda x: x[0])
    if pred.combined or gold.combined:
        same_set = {x.cl_id for x in pred.usable} == {x.cl_id for x in gold.usable} and None not in {
            x.cl_id for x in pred.usable}
        if score == 1.0 and not same_set:
            return 0.5, "partial_combined", p, g
    return score, rule, p, g


def _grade_pair(p: Part, g: Part) -> tuple[float, str]:
    if p.cl_id and g.cl_id:
        if p.cl_id == g.cl_id:
            return 1.0, "same_term"
        if ontology.distance(p.cl_id, g.cl_id) == 1:
            return 0.5, "one_step"
        if p.category and p.cl_id in p.category.roots and not p.category.umbrella \
                and ontology.is_ancestor(p.cl_id, g.cl_id):
            return 0.5, "general_category"
    if p.category is not None and g.category is not None:
        if p.category == g.category:
            return 0.5, "same_category"
        if related(p.category, g.category):
            return 0.5, "related_category"
    return 0.0, "different_category"


def _cat(part: Part) -> str | None:
    return part.category.name if part.category else None


def _norm(text: str) -> str:
    """Case, spacing, plurals, brackets and the words "cell"/"type" do not change a name."""
    text = re.sub(r"\([^()]*\)", " ", str(text))  # "(HSPCs)", "(cDC1s)": abbreviations
    words = re.findall(r"[a-z0-9+]+", text.lower())
    words = [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]
    return " ".join(w for w in words if w not in {"cell", "type"})
