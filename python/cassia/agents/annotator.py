"""Annotator: free-text, step-by-step reasoning from ranked markers to a cell type."""

from __future__ import annotations

from ..models import Message
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession


def system_prompt(session: ClusterSession) -> str:
    return render("annotator_system.j2", cancer_aware=session.cancer_aware)


def first_message(session: ClusterSession) -> Message:
    return Message(role="user", content=render(
        "annotator_user.j2",
        species=session.species,
        tissue=None if session.tissue_blind else session.tissue,
        additional_info=session.additional_info,
        markers=session.markers,
        rag_context=session.extra_context,
    ))


def revision_message(reasons: list[str], feedback: str) -> Message:
    return Message(role="user", content=render("annotator_revise.j2", reasons=reasons, feedback=feedback))


async def annotate(session: ClusterSession, provider: Provider, conversation: list[Message]) -> str:
    """Ask for (or revise) the annotation; ``conversation`` gets the reply appended."""
    completion = await session.call(
        provider, stage="annotator", task="annotator",
        system=system_prompt(session), messages=list(conversation),
    )
    text = completion.text.strip()
    conversation.append(Message(role="assistant", content=text))
    return text
