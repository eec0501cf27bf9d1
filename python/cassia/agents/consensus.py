"""Consensus agent: reads the n answers for one cluster and gives its own consensus and score.

This is the third opinion in the final CS (the minimum of CS_CL, CS_LLM and this agent's
``consensus_score``): a biologist's reading of whether differently worded answers really agree,
which the name-matching formulas cannot judge (e.g. a type and its subtype only partly agree).
"""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, Field

from ..models import Message, with_example
from ..ontology.compare import Answer
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession

__all__ = ["ConsensusOutput", "judge_consensus"]




class ConsensusOutput(BaseModel):
    """The consensus agent's reading of n annotations of one cluster."""

    model_config = with_example(
        general_type="T cell",
        subtype="CD8-positive, alpha-beta T cell",
        consensus_score=80,
        reasoning="All runs call a T cell; four of five name CD8-positive T cells and one a cytotoxic T cell.",
    )
    general_type: str = Field(description="The general cell type the runs agree on most.")
    subtype: str = Field(description="The subtype the runs agree on most; an empty string when none is named.")
    consensus_score: int = Field(ge=0, le=100, description="How consistent the runs are, 0-100.")
    reasoning: str = Field(description="Why, briefly: which runs agree, which differ and how much it matters.")


async def judge_consensus(session: ClusterSession, provider: Provider,
                          answers: Sequence[tuple[str, Answer]]) -> ConsensusOutput:
    """``answers``: (run label, answer) for every run that answered the cluster."""
    runs = [{"label": label, "general": a.general, "subtypes": list(a.subtypes)} for label, a in answers]
    prompt = render("consensus_user.j2", runs=runs, markers=session.markers[:30], species=session.species,
                    tissue=None if session.tissue_blind else session.tissue)
    completion = await session.call(
        provider, stage="consensus", task="consensus", schema=ConsensusOutput,
        system=render("consensus_system.j2"), messages=[Message(role="user", content=prompt)],
        context=session.context(runs=runs),
    )
    return completion.parsed
