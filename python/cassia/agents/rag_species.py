"""Cross-species agent (RAG): how human/mouse marker knowledge carries over to the organism of the
data. The rule-based fallback and the output schema live in :mod:`cassia.rag.species`."""

from __future__ import annotations

from ..models import Message
from ..prompts import render
from ..providers.base import Provider
from ..knowledge.markerdb import RetrievedCandidate
from ..rag.species import CrossSpeciesNotes
from .session import ClusterSession


async def cross_species_notes(
    session: ClusterSession,
    provider: Provider,
    candidates: list[RetrievedCandidate],
    unmatched: list[str],
) -> CrossSpeciesNotes:
    """Ask the model to compare the organism with the reference species (task ``rag``)."""
    prompt = render(
        "rag_species_user.j2", species=session.species, tissue=None if session.tissue_blind else session.tissue,
        markers=session.markers, candidates=candidates, unmatched=unmatched,
    )
    completion = await session.call(
        provider, stage="rag", task="rag", schema=CrossSpeciesNotes,
        system=render("rag_species_system.j2"), messages=[Message(role="user", content=prompt)],
        context=session.context(rag_task="species"),
    )
    return completion.parsed
