"""Scorer: a 0-100 quality score with reasoning, from the whole conversation."""

from __future__ import annotations

from ..models import DiagnosisOutput, FormatterOutput, Message, ScorerOutput
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession


def _history(conversation: list[Message]) -> str:
    """The exchange after the Annotator's task prompt: the prompt repeats the species, tissue and
    markers the Scorer's own prompt already gives, and no text goes out twice in one request."""
    if conversation and conversation[0].role == "user":
        conversation = conversation[1:]
    names = {"user": "Reviewer", "assistant": "Annotator"}
    return "\n\n".join(f"[{names.get(m.role, m.role)}]\n{m.content}" for m in conversation)


def prompts(session: ClusterSession, conversation: list[Message],
            annotation: FormatterOutput | DiagnosisOutput) -> tuple[str, str]:
    """(system, user) of the Scorer's call: static instructions first, then the cluster's data."""
    return render("scorer_system.j2"), render(
        "scorer_user.j2", species=session.species,
        tissue=None if session.tissue_blind else session.tissue, markers=session.markers,
        additional_info=session.additional_info, main_cell_type=annotation.main_cell_type,
        sub_cell_types=annotation.sub_cell_types, mixed_cell_types=annotation.mixed_cell_types,
        history=_history(conversation),
    )


async def score(
    session: ClusterSession, provider: Provider, conversation: list[Message],
    annotation: FormatterOutput | DiagnosisOutput,
) -> ScorerOutput:
    system, prompt = prompts(session, conversation, annotation)
    completion = await session.call(
        provider, stage="scorer", task="scorer", schema=ScorerOutput,
        system=system, messages=[Message(role="user", content=prompt)],
        context=session.context(annotation=annotation.main_cell_type, sub_cell_types=list(annotation.sub_cell_types)),
    )
    return completion.parsed
