"""The marker databases' evidence beside the curated knowledge base's, both weighed against chance.

The curated knowledge base (:mod:`cassia.knowledge.score`) knows a few hundred types well; the
marker databases CellMarker 2.0 and PanglaoDB (:mod:`cassia.knowledge.markerdb`) know many more,
less cleanly. Each source's evidence is measured in units of what random genes reach in it::

    evidence = kb_score / KB_NULL + db_score / DB_NULL

``KB_NULL`` is the knowledge base's abstention threshold for long lists (``MIN_SCORE``);
``DB_NULL`` is the score the databases' best candidate reaches on 1 in 100 random lists of
expressed genes. The databases
score only the list's first ``DB_GENES`` genes: their vocabulary is so wide that scattered hits
among 50 random genes add up, while a cluster's identity is written in its top genes. A call
the knowledge base would abstain on (too few curated markers, a score random genes reach) is
made when ``evidence >= MIN_EVIDENCE``, calibrated on random-gene lists, never on graded rows
(``benchmarks/offline_null_calibration.py``). The answer is the better-supported source: the
databases' type when their share is the larger one (also over a knowledge-base call of its
own), placed under the curated type that is its nearest Cell Ontology ancestor; otherwise the
knowledge base's candidate. A call the databases decide or rescue is of low confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import ontology
from .kb import KnowledgeBase
from .score import Candidate, MarkerHit

if TYPE_CHECKING:
    from .markerdb import MarkerIndex, RetrievedCandidate

KB_NULL = 0.24  # the knowledge base's abstention threshold for lists of 50 genes (call.MIN_SCORE)
DB_NULL = 0.26  # databases' best score on 1 in 100 random lists of expressed genes
DB_GENES = 10  # the databases score the list's first genes only (a cluster's top 10)
MIN_EVIDENCE = 1.7  # combined evidence a call needs (benchmarks/offline_null_calibration.py)
DATABASE_SOURCE = "CellMarker 2.0 / PanglaoDB"


@dataclass(frozen=True)
class DatabaseEvidence:
    """What the databases change: a rescued abstention or a better-supported type."""

    best: Candidate  # the answer: the knowledge base's candidate or the databases' type
    from_databases: bool  # True when the databases' type is the answer
    evidence: float  # combined evidence in units of the random-gene nulls
    retrieved: tuple["RetrievedCandidate", ...]
    reason: str


def database_evidence(
    genes: Sequence[str],
    kb_best: Candidate | None,
    index: "MarkerIndex",
    *,
    kb_confident: bool,
    species: str,
    tissue: str | None,
    kb: KnowledgeBase,
) -> DatabaseEvidence | None:
    """What changes with the databases: None when the knowledge base's own call (or abstention) stands.

    A knowledge-base call stands unless the databases' share is the larger; an abstention stands
    unless the two shares together reach ``MIN_EVIDENCE``.
    """
    kb_part, db_part, retrieved = evidence_parts(genes, kb_best, index, species=species, tissue=tissue)
    db_best = next((c for c in retrieved if c.cl_id), None)
    evidence = kb_part + db_part
    if evidence < MIN_EVIDENCE or (kb_confident and db_part <= kb_part):
        return None
    share = f"evidence {evidence:.2f} (knowledge base {kb_part:.2f} + databases {db_part:.2f}, in units of random genes)"
    if kb_best is not None and kb_part >= db_part:
        supported = f"; the databases' best type is {db_best.name}" if db_best is not None else ""
        return DatabaseEvidence(kb_best, False, round(evidence, 3), retrieved,
                                f"weak knowledge-base evidence for {kb_best.name}, {share}{supported}")
    if db_best is None:  # unreachable: evidence came from the databases
        return None
    best = _as_candidate(db_best, kb)
    return DatabaseEvidence(best, True, round(evidence, 3), retrieved,
                            f"the marker databases ({DATABASE_SOURCE}) support {db_best.name} with "
                            f"{', '.join(db_best.matched_genes[:5])}; {share}")


def evidence_parts(genes: Sequence[str], kb_best: Candidate | None, index: "MarkerIndex", *, species: str,
                   tissue: str | None) -> tuple[float, float, tuple["RetrievedCandidate", ...]]:
    """(knowledge-base part, databases' part, retrieved candidates): each source's best score in
    units of its random-gene null (the databases' best candidate with a Cell Ontology term)."""
    from .markerdb import rank_candidates

    retrieved = tuple(rank_candidates(list(genes)[:DB_GENES], index, species=species, tissue=tissue, top=5))
    kb_part = kb_best.score / KB_NULL if kb_best is not None and kb_best.matched else 0.0
    db_best = next((c for c in retrieved if c.cl_id), None)
    return kb_part, (db_best.score / DB_NULL if db_best is not None else 0.0), retrieved


def _as_candidate(found: "RetrievedCandidate", kb: KnowledgeBase) -> Candidate:
    """A database type as a candidate, under the curated type nearest to it on the Cell Ontology."""
    curated = _nearest_curated(found.cl_id, kb)
    general = kb.root(curated) if curated else found.name
    lineage = kb.types[curated].lineage if curated else ""
    hits = tuple(MarkerHit(gene=e.gene, marker=e.gene.upper(), rank=e.rank, source=DATABASE_SOURCE)
                 for e in found.matched)
    return Candidate(name=found.name, cl_id=found.cl_id or "", general_type=general, lineage=lineage,
                     score=found.score, own_score=found.score, matched=hits, in_tissue=found.in_tissue)


def _nearest_curated(cl_id: str | None, kb: KnowledgeBase) -> str | None:
    """The curated type with this Cell Ontology term, else with its nearest ancestor's."""
    if not cl_id:
        return None
    by_id = {t.cl_id: t.name for t in kb.types.values()}
    for term in (cl_id, *ontology.ancestors(cl_id)):
        if term in by_id:
            return by_id[term]
    return None
