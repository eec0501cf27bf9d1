"""Arbiter agent: settles a cluster the models still disagree on after their discussion.

It reads the markers and every annotator's final answer and reasoning (neutral names, as in the
deliberation) and writes the consensus with its reasons. Whether it picked a type none of the
annotators proposed is checked by the workflow in code, not taken from the arbiter's word.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, Field

from ..models import Message, with_example
from ..prompts import render
from ..providers.base import Provider
from .deliberation import Opinion, shown_opinion
from .session import ClusterSession

__all__ = ["ArbiterOutput", "arbitrate"]


class ArbiterOutput(BaseModel):
    """The arbiter's consensus for one cluster."""

    model_config = with_example(
        general_type="T cell",
        detailed_type="CD8-positive, alpha-beta T cell",
        reasoning="CD3D, CD3E and CD8A are the top markers; the NK reading ignores CD3E, so the T-cell call stands.",
    )
    general_type: str = Field(description="The consensus general cell type.")
    detailed_type: str = Field(description="The consensus subtype; an empty string when the markers do not tell.")
    reasoning: str = Field(description="Why this call: the deciding markers and what was wrong with the others.")


async def arbitrate(session: ClusterSession, provider: Provider, opinions: Sequence[Opinion], *,
                    rounds: int) -> ArbiterOutput:
    """Ask ``provider`` for the consensus from the annotators' final ``opinions``."""
    prompt = render("arbiter_user.j2", opinions=[shown_opinion(o) for o in opinions], markers=session.markers[:50],
                    species=session.species, tissue=None if session.tissue_blind else session.tissue, rounds=rounds)
    completion = await session.call(
        provider, stage="arbiter", task="arbiter", schema=ArbiterOutput, system=render("arbiter_system.j2"),
        messages=[Message(role="user", content=prompt)],
        context=session.context(opinions=[o.model_dump() for o in opinions]),
    )
    return completion.parsed
