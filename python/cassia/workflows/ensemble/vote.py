"""Agreement of the models on one cluster, measured on the Cell Ontology.

Each model's answer becomes a key (:func:`cassia.ontology.compare.cl_key`: the CL term the name
maps to, else its normalised text), so "T cells" and "T cell" are one vote. Unknown, blank and
failed answers are no vote. Per cluster:

- consensus proportion: the share of *all* models behind the most voted general type (a model
  without a vote lowers it);
- entropy (bits) over the votes cast, and the CS score (general and subtype agreement, as in
  uncertainty);
- the consensus: the most voted general type, the most voted subtype among the models backing
  it, and the Cell Ontology term of the most specific of the two that maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ... import ontology
from ...models import ClusterResult
from ...ontology.compare import (
    cl_key,
    consensus_proportion,
    consensus_value,
    display_name,
    is_no_call,
    similarity_score,
    vote_entropy,
)
from .result import ModelAnswer

__all__ = ["Tally", "answer_of", "tally"]

REASONING_CHARS = 4000  # what of the Annotator's last reasoning is kept with a model's answer


def _last_reasoning(result: ClusterResult) -> str:
    text = next((m.content for m in reversed(result.conversation) if m.role == "assistant"), "")
    return text[:REASONING_CHARS]


def answer_of(result: ClusterResult | None, *, missing: str = "missing", why: str | None = None) -> ModelAnswer:
    """A model's answer for a cluster from its run's result (None: no answer, ``missing`` says how)."""
    if result is None:
        return ModelAnswer(status=missing, note=why)
    if result.status != "ok":
        return ModelAnswer(status="failed", note=result.error)
    structured = result.annotation or result.diagnosis
    general = structured.main_cell_type.strip() if structured and structured.main_cell_type else None
    detailed = next((s.strip() for s in (structured.sub_cell_types if structured else []) if s and s.strip()), None)
    status = "no call" if is_no_call(general) else "ok"
    if detailed is not None and is_no_call(detailed):
        detailed = None
    return ModelAnswer(general=general, detailed=detailed if status == "ok" else None,
                       reasoning=_last_reasoning(result), status=status)


@dataclass(frozen=True)
class Tally:
    """The agreement figures and the consensus of one set of answers."""

    proportion: float | None
    entropy: float | None
    cs: float | None
    answered: int
    general: str | None
    detailed: str | None
    cell_ontology_id: str | None
    general_key: str | None
    unanimous: bool  # every model that voted gave the same general type


def tally(answers: Mapping[str, ModelAnswer] | Sequence[ModelAnswer], total: int | None = None) -> Tally:
    """Agreement over ``answers`` (one per model; ``total`` models in the ensemble, default all given)."""
    items = list(answers.values()) if isinstance(answers, Mapping) else list(answers)
    total = len(items) if total is None else total
    voting = [a for a in items if a.votes]
    keys = [cl_key(a.general) if a.votes else None for a in items]
    agreement = similarity_score([(cl_key(a.general), cl_key(a.detailed)) for a in voting])
    general_key = consensus_value(keys)
    backers = [a for a, k in zip(items, keys) if k is not None and k == general_key]
    detailed_key = consensus_value([cl_key(a.detailed) for a in backers])
    general = display_name(general_key, [a.general for a in backers])
    detailed = display_name(detailed_key, [a.detailed for a in backers if a.detailed])
    names = [n for n in (detailed, general) if n]
    return Tally(
        proportion=consensus_proportion(keys, total), entropy=vote_entropy(keys), cs=agreement.score,
        answered=len(voting), general=general, detailed=detailed,
        cell_ontology_id=ontology.first_cl_id(names) if names else None, general_key=general_key,
        unanimous=len({k for k in keys if k is not None}) <= 1,
    )
