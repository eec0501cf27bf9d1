"""Merging agent: places each detailed annotation in a broader group at every requested level.

One structured call per batch of annotations (:class:`MergeOutput`). The reply is only read
here; :mod:`cassia.workflows.merge` checks it against the Cell Ontology and fills any gaps.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, Field

from ..models import Message, with_example
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession

__all__ = ["GroupAssignment", "MergeOutput", "group_annotations"]




class GroupAssignment(BaseModel):
    annotation: str = Field(description="One annotation exactly as given.")
    groups: list[str] = Field(description="Its group at each level, in the order the levels were listed.")


class MergeOutput(BaseModel):
    """Broader groups for each annotation, one per level."""

    model_config = with_example(assignments=[{"annotation": "CD8-positive, alpha-beta cytotoxic T cell",
                                          "groups": ["T cell", "CD8-positive, alpha-beta T cell",
                                                     "CD8-positive, alpha-beta cytotoxic T cell"]}])
    assignments: list[GroupAssignment]


async def group_annotations(session: ClusterSession, provider: Provider, annotations: Sequence[str],
                            levels: Sequence[str]) -> MergeOutput:
    prompt = render("merge_user.j2", annotations=list(annotations), levels=list(levels),
                    species=session.species, tissue=None if session.tissue_blind else session.tissue)
    completion = await session.call(
        provider, stage="merge", task="merge", schema=MergeOutput,
        system=render("merge_system.j2"), messages=[Message(role="user", content=prompt)],
        context=session.context(annotations=list(annotations), levels=list(levels)),
    )
    return completion.parsed
