"""The curated cell-type knowledge base and its deterministic scorer.

``rank_cell_types(genes, species=..., tissue=...)`` scores every curated cell type against a ranked
marker list; ``call_cell_type(...)`` turns the scores into a call (general type, subtypes,
confidence, possible mixture). Both are offline and deterministic: the offline provider answers
every agent role from them and the RAG step reuses them as a marker-database lookup.
"""

from __future__ import annotations

from .call import UNKNOWN, KBCall, call_cell_type
from .kb import CellType, KnowledgeBase, load_knowledge_base, normalise_species
from .score import Candidate, MarkerHit, rank_cell_types

__all__ = [
    "UNKNOWN",
    "Candidate",
    "CellType",
    "KBCall",
    "KnowledgeBase",
    "MarkerHit",
    "call_cell_type",
    "load_knowledge_base",
    "normalise_species",
    "rank_cell_types",
]
