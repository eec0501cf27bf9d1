"""Opt-in: the curated knowledge base's call, refined by candidates retrieved from marker databases.

The offline annotator uses this when a run has RAG switched on (``request.context["rag"]`` holds
the retrieved candidates, see :mod:`cassia.rag`). The curated knowledge base stays in charge of
the general type, which it calls reliably; the databases, which know many more fine-grained
types, refine what lies below it:

- candidates of the called family are re-ranked by ``kb score * (1 + RAG_WEIGHT * agreement)``,
  where ``agreement`` is the best retrieved candidate's relative score for the same Cell Ontology
  term (or half of it one is_a step away);
- retrieved types that the knowledge base lacks but the Cell Ontology places under the general
  type are added to the subtypes (after the knowledge base's own supported subtypes).

Without retrieved candidates, or when the knowledge base makes no call, the call is unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from .call import KBCall, call_cell_type
from .kb import KnowledgeBase, load_knowledge_base

RAG_WEIGHT = 0.5  # how much full database agreement raises a knowledge-base candidate
MAX_SUBTYPES = 3


def agreement(cl_id: str | None, retrieved: Sequence[Mapping[str, Any]]) -> float:
    """0..1: how strongly the retrieved candidates support the term ``cl_id``."""
    from .. import ontology

    if not cl_id or not retrieved:
        return 0.0
    top = max(float(r.get("score") or 0.0) for r in retrieved) or 1.0
    best = 0.0
    for r in retrieved:
        other = r.get("cl_id")
        if not other:
            continue
        share = float(r.get("score") or 0.0) / top
        if other == cl_id:
            best = max(best, share)
        elif ontology.distance(cl_id, other) == 1:
            best = max(best, 0.5 * share)
    return best


def call_with_retrieval(
    genes: Sequence[str] | str,
    *,
    retrieved: Sequence[Mapping[str, Any]],
    species: str = "human",
    tissue: str | None = None,
    top: int = 10,
    kb: KnowledgeBase | None = None,
) -> KBCall:
    """:func:`~cassia.knowledge.call_cell_type`, refined by retrieved database candidates.

    ``retrieved``: dicts with at least ``name``, ``cl_id`` and ``score`` (as stored by
    :meth:`cassia.knowledge.markerdb.RetrievedCandidate.as_dict`), best first.
    """
    from .. import ontology

    kb = kb or load_knowledge_base()
    call = call_cell_type(genes, species=species, tissue=tissue, top=max(top, 25), kb=kb)
    if not call.confident or call.best is None or not retrieved or call.best.name not in kb.types:
        # (a type the knowledge base does not curate: the marker databases decided the call already)
        return dataclasses.replace(call, candidates=call.candidates[:top])
    family = call.general_type
    within = [c for c in call.candidates if c.general_type == family]
    factor = {c.name: 1.0 + RAG_WEIGHT * agreement(c.cl_id, retrieved) for c in within}
    reranked = sorted(within, key=lambda c: (-c.score * factor[c.name], c.name))
    best = reranked[0]
    # the best-supported type leads, as in call_cell_type
    subtypes = [best.name] + [c.name for c in reranked if c.name not in (family, best.name) and c.own_score > 0]
    family_cl = kb.types[family].cl_id
    known = {t.cl_id for t in kb.types.values()}
    for r in retrieved[:5]:
        cl_id = r.get("cl_id")
        if cl_id and cl_id not in known and cl_id != family_cl and ontology.is_ancestor(family_cl, cl_id):
            subtypes.append(str(r.get("name")))
    reasons = list(call.reasons)
    if best.name != call.best.name:
        reasons.append(f"marker databases (CellMarker 2.0, PanglaoDB) favour {best.name} over {call.best.name}")
    return dataclasses.replace(
        call, best=best, subtypes=tuple(dict.fromkeys(subtypes))[:MAX_SUBTYPES], candidates=call.candidates[:top],
        reasons=tuple(reasons),
    )


def retrieval_note(rag: Mapping[str, Any], *, limit: int = 5) -> str:
    """A short text on the retrieved candidates for the offline annotation (input genes only)."""
    candidates = list(rag.get("candidates") or [])[:limit]
    if not candidates:
        return "Marker databases (CellMarker 2.0, PanglaoDB): no cell type lists any gene of the cluster."
    lines = ["Marker databases (CellMarker 2.0, PanglaoDB), candidates ranked by rank- and specificity-weighted overlap:"]
    for i, c in enumerate(candidates, 1):
        genes = ", ".join(f"{m['gene']} (#{m['rank']})" for m in c.get("matched", [])[:6]) or "none"
        term = f" ({c['cl_id']})" if c.get("cl_id") else ""
        lines.append(f"{i}. {c.get('name')}{term}: score {float(c.get('score') or 0):.2f}; cluster genes listed: {genes}")
    return "\n".join(lines)
