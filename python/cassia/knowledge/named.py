"""How well the markers support a NAMED cell type (what a Scorer must judge), from the knowledge base.

:func:`named_support` scores the answer it is given, not the knowledge base's own call: the
named type is resolved to a curated type (by name, else through its Cell Ontology term and that
term's ancestors), and its evidence is the best candidate score among the type and its subtypes
(naming a general type is supported by evidence for any of its subtypes). The 0-100 value is the
call's quality scaled by how close that evidence comes to the best candidate's, so a wrong name
scores low and the right one scores what the evidence allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .. import ontology
from ..ontology.compare import is_no_call
from .call import UNKNOWN, KBCall, call_cell_type
from .kb import KnowledgeBase, load_knowledge_base
from .score import rank_cell_types

UNKNOWN_FITS = 70  # score of "Unknown" when no cell type is supported either


@dataclass(frozen=True)
class NamedSupport:
    """The evidence for one named type."""

    name: str
    resolved: str | None  # the curated type it was resolved to; None when the knowledge base cannot tell
    support: float  # best candidate score of the resolved type and its subtypes
    score: int  # 0-100
    reasoning: str


def resolve_name(name: str, kb: KnowledgeBase | None = None) -> str | None:
    """The curated type a free-text name refers to: by name, else by its CL term or its nearest
    CL ancestor the knowledge base curates (e.g. "tumor-associated macrophage" -> macrophage)."""
    kb = kb or load_knowledge_base()
    text = re.sub(r"\s+", " ", str(name).strip().lower())
    for candidate in (text, text.rstrip("s"), re.sub(r"s\b", "", text)):
        if candidate in kb.types:
            return candidate
    by_id = {t.cl_id: t.name for t in kb.types.values()}

    words = text.split()
    # the whole name first, then its head ("tumor-associated macrophages" -> "macrophages")
    for start in range(len(words)):
        match = ontology.map_name(" ".join(words[start:]))
        if match.cl_id is not None:
            for cl_id in [match.cl_id, *ontology.ancestors(match.cl_id)]:
                if cl_id in by_id:
                    return by_id[cl_id]
    return None


def _subtree(kb: KnowledgeBase, name: str) -> set[str]:
    out, todo = {name}, [name]
    while todo:
        for child in kb.children(todo.pop()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def named_support(name: str, genes: Sequence[str] | str, *, species: str = "human", tissue: str | None = None,
                  call: KBCall | None = None, kb: KnowledgeBase | None = None) -> NamedSupport:
    """Score ``name`` against the ranked ``genes`` (0-100, with the reasoning)."""
    kb = kb or load_knowledge_base()
    call = call or call_cell_type(genes, species=species, tissue=tissue, kb=kb)
    best = call.best
    if is_no_call(name):  # "Unknown" and the like: one list, shared with every vote
        if not call.confident:
            return NamedSupport(name, UNKNOWN, 0.0, UNKNOWN_FITS,
                                "No cell type is supported by the markers, so 'Unknown' matches the evidence.")
        value = max(5, round(UNKNOWN_FITS * (1 - call.quality / 100)))
        return NamedSupport(name, UNKNOWN, 0.0, value,
                            f"'Unknown' although the markers support {call.label}: "
                            f"{', '.join(call.key_markers[:6])}.")
    if best is not None and call.confident and best.name not in kb.types:
        return _database_support(name, call)
    resolved = resolve_name(name, kb)
    if resolved is None:
        cap = min(call.quality, 40)
        return NamedSupport(name, None, 0.0, cap,
                            f"The knowledge base cannot assess '{name}' (no curated type or Cell Ontology "
                            f"ancestor it knows); the markers point to {call.label}.")
    family = _subtree(kb, resolved)
    scores = {c.name: c for c in rank_cell_types(genes, species=species, tissue=tissue, top=None, kb=kb)}
    found = [scores[n] for n in family if n in scores]
    support = max((c.score for c in found), default=0.0)
    if best is None or support <= 0:
        return NamedSupport(name, resolved, 0.0, 0,
                            f"No marker of the list supports {resolved}"
                            + (f"; the markers point to {call.label}." if call.confident else "."))
    ratio = min(1.0, support / best.score)
    strength = 100 * (1 - math.exp(-support / 0.6))
    value = round(min(call.quality if call.confident else 20, strength) * ratio ** 2)
    top = max(found, key=lambda c: c.score)
    reasoning = (f"'{name}' ({resolved}): supported by {', '.join(top.matched_genes[:6])}; evidence "
                 f"{support:.2f} against {best.score:.2f} for the best candidate ({best.name}).")
    if resolved not in (best.name, *kb.ancestors(best.name)) and best.name not in family:
        reasoning += f" The markers favour {call.label} instead."
    return NamedSupport(name, resolved, round(support, 4), max(0, min(100, value)), reasoning)


def _database_support(name: str, call: KBCall) -> NamedSupport:
    """A call the marker databases decided (a type the knowledge base does not curate): its own
    name, or a Cell Ontology ancestor of it, is supported as the call is; any other name is not."""
    best = call.best
    match = ontology.map_name(name)
    genes = ", ".join(call.key_markers[:6])
    if match.cl_id and best.cl_id and ontology.is_ancestor(match.cl_id, best.cl_id):
        return NamedSupport(name, best.name, best.score, call.quality,
                            f"'{name}' covers {best.name}, which the marker databases support with {genes}.")
    return NamedSupport(name, None, 0.0, min(call.quality, 20),
                        f"The markers point to {best.name} (marker databases: {genes}), not '{name}'.")
