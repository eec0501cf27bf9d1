"""Hierarchical Feature agent (RAG): asks the model which axes separate the subtypes of a cluster's
ontology branches. The rule-based fallback and the output schema live in :mod:`cassia.rag.features`."""

from __future__ import annotations

from ..models import Message
from ..prompts import render
from ..providers.base import Provider
from ..rag.features import MAX_AXES, HierarchicalFeatures
from ..knowledge.markerdb import RetrievedCandidate
from ..rag.tree import TissueTree
from .session import ClusterSession


async def hierarchical_features(
    session: ClusterSession,
    provider: Provider,
    trees: list[TissueTree],
    candidates: list[RetrievedCandidate],
    *,
    max_axes: int = MAX_AXES,
) -> HierarchicalFeatures:
    """Ask the model for the axes of the trees (one structured call, task ``rag``)."""
    highlight = [c.cl_id for c in candidates if c.cl_id]
    prompt = render(
        "rag_features_user.j2", species=session.species, tissue=None if session.tissue_blind else session.tissue,
        markers=session.markers, candidates=candidates, max_axes=max_axes,
        tree_lines=[line for tree in trees for line in tree.lines(highlight)],
    )
    completion = await session.call(
        provider, stage="rag", task="rag", schema=HierarchicalFeatures,
        system=render("rag_features_system.j2"), messages=[Message(role="user", content=prompt)],
        context=session.context(rag_task="features"),
    )
    features = completion.parsed
    return features.model_copy(update={"axes": features.axes[:max_axes]})
