"""Marker Database agent: candidate cell types for a cluster from CellMarker 2.0 and PanglaoDB.

Deterministic, no language model: the same scoring ideas as the curated knowledge base's ranker
(:mod:`cassia.knowledge.score`), applied to the database index::

    own(T)   = sum over the cluster's genes g listed for T of
                   rank_weight(rank of g) * specificity(g) * support(T, g)  /  norm(T)
    score(T) = own(T) * n / (n + 1)              (n = matched genes: several agreeing markers)
               * OFF_TISSUE when a tissue is given and T was never recorded there

``rank_weight`` and ``OFF_TISSUE`` are the knowledge base's own; ``specificity`` and ``support``
come from the index (:mod:`cassia.knowledge.markerdb.index`). Genes match case-insensitively, so mouse symbols
(Cd3e) find human records (CD3E) and the other way round. Every matched gene keeps its
provenance: which database lists it for the type and the PubMed IDs behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..kb import normalise_species
from ..score import OFF_TISSUE, normalise_genes, rank_weight
from .index import ANY_TISSUE, MarkerIndex, tissue_key

DEFAULT_TOP = 10
SPECIES_VIEW = {"human": "human", "mouse": "mouse"}  # anything else reads both databases' species


@dataclass(frozen=True)
class MarkerEvidence:
    """A cluster gene that a database lists for a candidate, with where that comes from."""

    gene: str  # as given in the cluster's list
    rank: int
    support: float  # 0..1, how well the databases support the (type, gene) pair
    databases: tuple[str, ...]
    pmids: tuple[str, ...]


@dataclass(frozen=True)
class RetrievedCandidate:
    """One candidate cell type from the marker databases."""

    name: str  # Cell Ontology label when mapped, else the database's name
    cl_id: str | None
    score: float
    matched: tuple[MarkerEvidence, ...]
    canonical_markers: tuple[str, ...]  # the type's best-supported markers in the databases
    database_names: tuple[tuple[str, str], ...]  # (database, name as written there)
    in_tissue: bool | None  # None when no tissue was given

    @property
    def matched_genes(self) -> list[str]:
        return [e.gene for e in self.matched]

    @property
    def databases(self) -> list[str]:
        return sorted({d for e in self.matched for d in e.databases})

    def as_dict(self, *, max_matched: int = 15) -> dict:
        """JSON-safe record (the best-ranked ``max_matched`` matched genes, for a compact results log)."""
        return {
            "name": self.name, "cl_id": self.cl_id, "score": self.score, "in_tissue": self.in_tissue,
            "matched": [{"gene": e.gene, "rank": e.rank, "support": e.support, "databases": list(e.databases),
                         "pmids": list(e.pmids)} for e in self.matched[:max_matched]],
            "n_matched": len(self.matched),
            "canonical_markers": list(self.canonical_markers),
            "database_names": [list(n) for n in self.database_names],
        }


def species_view(species: str | None) -> str:
    return SPECIES_VIEW.get(normalise_species(species), "any")


def rank_candidates(
    genes: Sequence[str] | str,
    index: MarkerIndex,
    *,
    species: str = "human",
    tissue: str | None = None,
    top: int | None = DEFAULT_TOP,
) -> list[RetrievedCandidate]:
    """Cell types from the marker databases ranked against ``genes`` (most specific first).

    ``tissue`` is a soft prior, like in the knowledge base: types never recorded in that tissue
    are down-weighted, not removed. Returns the ``top`` candidates (all when None), best first.
    """
    ranked = normalise_genes(genes)
    view = index.view(species_view(species))
    wanted = _tissue_prior(tissue)
    totals: dict[int, float] = {}
    hits: dict[int, list[tuple[str, str, int, float]]] = {}
    for key, rank, original in ranked:
        postings = view.postings.get(key)
        if not postings:
            continue
        weight = rank_weight(rank) * view.specificity.get(key, 0.0)
        for type_id, support in postings:
            totals[type_id] = totals.get(type_id, 0.0) + weight * support
            hits.setdefault(type_id, []).append((key, original, rank, support))

    scored = []
    for type_id, total in totals.items():
        n = len(hits[type_id])
        score = total / view.norm.get(type_id, 1.0) * n / (n + 1)
        in_tissue = None
        if wanted is not None:
            recorded = view.tissues.get(type_id, frozenset())
            in_tissue = wanted in recorded or ANY_TISSUE in recorded
            if not in_tissue:
                score *= OFF_TISSUE
        scored.append((score, type_id, in_tissue))
    scored.sort(key=lambda s: (-s[0], index.types[s[1]]["name"]))
    chosen = scored if top is None else scored[:top]
    return [_candidate(index, view, type_id, score, in_tissue, hits[type_id]) for score, type_id, in_tissue in chosen]


def _tissue_prior(tissue: str | None) -> str | None:
    key = tissue_key(tissue)
    return None if key in (None, ANY_TISSUE) else key


def _candidate(index: MarkerIndex, view, type_id: int, score: float, in_tissue: bool | None,
               found: list[tuple[str, str, int, float]]) -> RetrievedCandidate:
    entry = index.types[type_id]
    matched = []
    for key, original, rank, support in sorted(found, key=lambda f: f[2]):
        prov = index.provenance(type_id, key)
        matched.append(MarkerEvidence(original, rank, round(support, 3), tuple(prov["databases"]),
                                      tuple(prov["pmids"][:3])))
    return RetrievedCandidate(
        name=entry["name"], cl_id=entry["cl_id"], score=round(score, 4), matched=tuple(matched),
        canonical_markers=tuple(view.canonical.get(type_id, [])),
        database_names=tuple((d, n) for d, n in entry["names"]), in_tissue=in_tissue,
    )
