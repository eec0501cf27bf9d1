"""Deliberation agent: one model reconsiders its call for a cluster after reading the others'.

The models of an ensemble that disagree on a cluster each get the markers, their own answer and
reasoning, and every other model's, under neutral names ("Annotator A", "Annotator B", ...: no
vendor or model names, so no model defers to a brand). Each answers again, free to keep or
change its call; the ensemble workflow decides whether the new answers agree.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, Field

from ..models import Message, with_example
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession

__all__ = ["DeliberationOutput", "Opinion", "annotator_name", "deliberate"]

REASONING_CHARS = 1500  # what of each model's reasoning the others read (long chains are cut)


class DeliberationOutput(BaseModel):
    """One model's answer after reading the other annotators' answers."""

    model_config = with_example(
        general_type="T cell",
        detailed_type="CD8-positive, alpha-beta T cell",
        changed=False,
        reasoning="CD3D, CD3E and CD8A lead the list; the other annotator's NK call does not explain CD3E.",
    )
    general_type: str = Field(description="Your general cell type for the cluster now.")
    detailed_type: str = Field(description="Your most probable subtype; an empty string when you name none.")
    changed: bool = Field(description="True when this differs from your previous answer.")
    reasoning: str = Field(description="Which markers decide it, and why you keep or change your answer.")


class Opinion(BaseModel):
    """An annotator's current answer and why, as the other annotators read it."""

    name: str  # "Annotator A"
    general: str | None = None
    detailed: str | None = None
    reasoning: str = ""


def annotator_name(index: int) -> str:
    """The neutral name of the index-th ensemble member: Annotator A, B, ..., Z, AA, AB, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return f"Annotator {letters}"


def shown_opinion(opinion: Opinion) -> dict:
    reasoning = opinion.reasoning.strip()
    if len(reasoning) > REASONING_CHARS:
        reasoning = reasoning[:REASONING_CHARS].rstrip() + " [...]"
    return {"name": opinion.name, "general": opinion.general or "no answer", "detailed": opinion.detailed or "",
            "reasoning": reasoning}


async def deliberate(session: ClusterSession, provider: Provider, *, stage: str, own: Opinion,
                     others: Sequence[Opinion], round_number: int, rounds: int) -> DeliberationOutput:
    """Ask ``provider`` (speaking as ``own.name``) for its answer after reading ``others``."""
    prompt = render("deliberation_user.j2", own=shown_opinion(own), others=[shown_opinion(o) for o in others],
                    markers=session.markers[:50], species=session.species,
                    tissue=None if session.tissue_blind else session.tissue, round=round_number, rounds=rounds)
    completion = await session.call(
        provider, stage=stage, task="deliberation", schema=DeliberationOutput,
        system=render("deliberation_system.j2", name=own.name), messages=[Message(role="user", content=prompt)],
        context=session.context(own=own.model_dump(), others=[o.model_dump() for o in others]),
    )
    return completion.parsed
