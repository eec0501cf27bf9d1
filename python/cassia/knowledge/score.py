"""Deterministic scoring of candidate cell types against a ranked marker list.

For every cell type of the knowledge base (restricted to the species), the evidence is::

    own(T)       = sum over T's own markers found in the list of
                       rank_weight(rank) * importance(position in T's list) * specificity(marker)
                   / sqrt(sum of importance over T's first NORM_MARKERS markers)
    composite(T) = own(T) + INHERIT * composite(parent of T)
    score(T)     = (composite(T) * n / (n + 1) - NEG_WEIGHT * sum of rank_weight over negative markers found)
                   * (OFF_TISSUE if a tissue is given and T is not expected there)

- ``rank_weight`` makes top-ranked genes count most (rank 1 -> 1, rank 11 -> 0.5, rank 50 -> 0.17).
- ``importance`` favours the first (most specific) markers of a type's curated list.
- ``specificity`` is the inverse of the number of cell-type families (root types) listing the marker,
  so genes shared by unrelated lineages carry little weight. Lineage-level fallback types (epithelial
  cell, stromal cell) list genes that their lineage shares on purpose: they do not count here,
  and their score is multiplied by ``FALLBACK_WEIGHT`` so any specific type with comparable
  evidence wins. Genes of a cell-state program (``STATE_PROGRAMS``: proliferation, interferon and
  stress responses, ...) say what a cell is doing, not what it is: they count ``PROGRAM_WEIGHT``
  as much, so a cycling T cell stays a T cell rather than a transit-amplifying cell. (Programs
  that define types, such as immunoglobulin production or cytotoxicity, count fully.)
- Dividing by the square root of the list size normalises for how many markers a type has: a long
  list cannot win by collecting scattered hits, a short list cannot win on one gene. Only the first
  ``NORM_MARKERS`` count, so a type whose list also carries single-nucleus and secondary markers is
  not diluted by them (a cluster's top genes hold only a handful of any type's markers).
- ``n / (n + 1)`` (n = matched markers, own and inherited) rewards several agreeing markers.
- A subtype inherits part of its parent's evidence, so it outranks the parent only with its own
  supporting markers; otherwise the more general type stays on top.
- A curated list may name a gene family by one symbol (``GENE_FAMILIES``: "IGV" for the
  immunoglobulin variable segments, "TRV" for the T cell receptor ones). Every member in the
  cluster's list is a hit of that symbol, up to ``FAMILY_MAX`` of them: plasma and B cell
  clusters of many atlases rank a dozen clone-specific IGHV/IGKV/IGLV genes first, and no
  single one of them is any type's marker.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import InputError
from .kb import KnowledgeBase, load_knowledge_base, symbols_species

RANK_HALF = 10.0  # rank at which a marker counts half as much as the top-ranked one
INHERIT = 0.7  # share of the parent's evidence a subtype carries
NEG_WEIGHT = 0.35  # penalty for a top-ranked negative marker
OFF_TISSUE = 0.5  # soft prior for types not expected in the given tissue
NORM_MARKERS = 12  # markers of a type's list that set its normalisation
FALLBACK_WEIGHT = 0.75  # a lineage-level fallback must beat specific types by this factor
PROGRAM_WEIGHT = 0.25  # weight of a cell-state program gene (proliferation, ...) as type evidence
GENE_FAMILIES = {"IGV": re.compile(r"^IG[HKL]V\d"), "TRV": re.compile(r"^TR[ABGD]V\d")}
FAMILY_MAX = 3  # members of one gene family that count as separate hits
STATE_PROGRAMS = ("proliferation", "interferon response", "stress / immediate-early response",
                  "hypoxia / glycolysis", "mitochondrial / low quality")


def rank_weight(rank: int) -> float:
    """Weight of a marker at 1-based ``rank`` in the cluster's list."""
    return 1.0 / (1.0 + (rank - 1) / RANK_HALF)


def importance(position: int) -> float:
    """Weight of the marker at 0-based ``position`` of a curated list (most specific first)."""
    return 1.0 if position < 3 else 0.8 if position < 6 else 0.6


@dataclass(frozen=True)
class MarkerHit:
    """A knowledge-base marker found in the cluster's list."""

    gene: str  # the symbol exactly as given in the input
    marker: str  # the knowledge-base symbol it matched
    rank: int  # 1-based rank in the input list
    source: str  # the cell type whose list holds the marker (the candidate or an ancestor)


@dataclass(frozen=True)
class Candidate:
    """One scored cell type."""

    name: str
    cl_id: str
    general_type: str
    lineage: str
    score: float
    own_score: float
    matched: tuple[MarkerHit, ...]
    negatives: tuple[MarkerHit, ...] = ()
    missing_key_markers: tuple[str, ...] = ()
    in_tissue: bool | None = None
    margin: float = 0.0  # score minus the next candidate's score

    @property
    def matched_genes(self) -> list[str]:
        return [h.gene for h in self.matched]


@dataclass(frozen=True)
class _Profile:
    name: str
    parent: str | None
    markers: tuple[tuple[str, float], ...]  # (symbol, importance)
    norm: float
    negatives: tuple[str, ...]


@dataclass(frozen=True)
class _Index:
    """The knowledge base as seen from one species."""

    profiles: dict[str, _Profile]
    order: tuple[str, ...]  # parents before children
    lookup: dict[str, tuple[str, ...]] = field(default_factory=dict)  # input key -> KB symbols
    specificity: dict[str, float] = field(default_factory=dict)


def rank_cell_types(
    genes: Sequence[str] | str,
    *,
    species: str = "human",
    tissue: str | None = None,
    top: int | None = 10,
    kb: KnowledgeBase | None = None,
) -> list[Candidate]:
    """Score every knowledge-base cell type against ``genes`` (ranked, most specific first).

    ``species`` "human" (the default) is read as mouse when most symbols are written the mouse
    way (:func:`~cassia.knowledge.kb.symbols_species`). ``tissue`` is a soft prior (types not expected there are down-weighted, not removed); an
    unknown or missing tissue means tissue-blind scoring. Returns the ``top`` candidates with a
    positive score, best first (all of them when ``top`` is None).
    """
    kb = kb or load_knowledge_base()
    ranked = normalise_genes(genes)
    index = _index_for(kb, symbols_species([original for _, _, original in ranked], species))
    canonical_tissue = kb.resolve_tissue(tissue)
    present: dict[str, list[tuple[str, int]]] = {}  # KB symbol -> input genes (one, or family members)
    for key, rank, original in ranked:
        # the symbol as given first, then its current name if it is an outdated one (SDPR -> CAVIN2)
        symbols = index.lookup.get(key) or index.lookup.get(kb.symbol_aliases.get(key, "").upper(), ())
        family = next((f for f, pattern in GENE_FAMILIES.items() if pattern.match(key)), None)
        if not symbols and family in index.lookup:
            symbols = (family,)
        for symbol in symbols:
            found = present.setdefault(symbol, [])
            if len(found) < (FAMILY_MAX if symbol in GENE_FAMILIES else 1):
                found.append((original, rank))

    composite: dict[str, float] = {}
    matched: dict[str, tuple[MarkerHit, ...]] = {}
    negatives: dict[str, tuple[MarkerHit, ...]] = {}
    own: dict[str, float] = {}
    for name in index.order:
        prof = index.profiles[name]
        hits, total, used = [], 0.0, set()
        for symbol, imp in prof.markers:
            for gene, rank in present.get(symbol, ()):
                if gene in used:
                    continue
                used.add(gene)  # one input gene counts once per type (mouse orthologs can overlap)
                hits.append(MarkerHit(gene, symbol, rank, name))
                total += rank_weight(rank) * imp * index.specificity[symbol]
        own[name] = total / prof.norm
        negs = [MarkerHit(present[s][0][0], s, present[s][0][1], name) for s in prof.negatives if s in present]
        parent = prof.parent if prof.parent in index.profiles else None
        composite[name] = own[name] + (INHERIT * composite[parent] if parent else 0.0)
        inherited = matched[parent] if parent else ()
        matched[name] = tuple(hits) + tuple(h for h in inherited if h.gene not in used)
        own_negs = {h.gene for h in negs}
        parent_negs = negatives[parent] if parent else ()
        negatives[name] = tuple(negs) + tuple(h for h in parent_negs if h.gene not in own_negs)

    candidates = []
    for name in index.order:
        n = len(matched[name])
        penalty = NEG_WEIGHT * sum(rank_weight(h.rank) for h in negatives[name])
        score = composite[name] * n / (n + 1) - penalty
        ct = kb.types[name]
        in_tissue = None if canonical_tissue is None else ct.found_in(canonical_tissue)
        if in_tissue is False:
            score *= OFF_TISSUE
        if ct.fallback:
            score *= FALLBACK_WEIGHT
        if score <= 0:
            continue
        key_markers = [s for s, _ in index.profiles[name].markers[:3]]
        candidates.append(
            Candidate(
                name=name,
                cl_id=ct.cl_id,
                general_type=kb.root(name),
                lineage=ct.lineage,
                score=round(score, 4),
                own_score=round(own[name], 4),
                matched=tuple(sorted(matched[name], key=lambda h: h.rank)),
                negatives=tuple(sorted(negatives[name], key=lambda h: h.rank)),
                missing_key_markers=tuple(s for s in key_markers if s not in present),
                in_tissue=in_tissue,
            )
        )
    # best first; on ties the more general type (fewer ancestors) first, then by name
    candidates.sort(key=lambda c: (-c.score, len(kb.ancestors(c.name)), c.name))
    with_margins = [
        _with_margin(c, candidates[i + 1].score if i + 1 < len(candidates) else 0.0)
        for i, c in enumerate(candidates)
    ]
    return with_margins if top is None else with_margins[:top]


def normalise_genes(genes: Sequence[str] | str) -> list[tuple[str, int, str]]:
    """(upper-cased key, 1-based rank, original symbol) for each distinct gene, in the given order.

    Accepts a list or a comma/whitespace separated string; matching is case-insensitive.
    """
    if isinstance(genes, str):
        genes = [g for g in genes.replace(",", " ").split()]
    out: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    for gene in genes:
        if not isinstance(gene, str):
            raise InputError(f"marker genes must be strings, got {gene!r}; pass gene symbols")
        original = gene.strip()
        if not original:
            continue
        key = original.upper()
        if key in seen:
            continue
        seen.add(key)
        out.append((key, len(out) + 1, original))
    return out


def _with_margin(c: Candidate, next_score: float) -> Candidate:
    return Candidate(**{**c.__dict__, "margin": round(c.score - next_score, 4)})


def _index_for(kb: KnowledgeBase, species: str) -> _Index:
    if kb is load_knowledge_base():
        return _cached_default_index(species)
    return _build_index(kb, species)


@lru_cache(maxsize=8)
def _cached_default_index(species: str) -> _Index:
    return _build_index(load_knowledge_base(), species)


def _build_index(kb: KnowledgeBase, species: str) -> _Index:
    is_mouse = species == "mouse"
    known_species = species in ("human", "mouse")
    profiles: dict[str, _Profile] = {}
    for ct in kb.types.values():
        if known_species and species not in ct.species:
            continue
        symbols = [m for m in ct.markers if not (is_mouse and m.upper() in kb.human_only_genes)]
        if is_mouse:
            upper = {s.upper() for s in symbols}
            symbols += [m for m in ct.mouse_markers if m.upper() not in upper]
        markers = tuple((s, importance(i)) for i, s in enumerate(symbols))
        norm = math.sqrt(sum(imp for _, imp in markers[:NORM_MARKERS])) or 1.0
        profiles[ct.name] = _Profile(ct.name, ct.parent, markers, norm, tuple(ct.negative_markers))
    order = tuple(sorted(profiles, key=lambda n: len(kb.ancestors(n))))

    families: dict[str, set[str]] = {}
    for prof in profiles.values():
        fallback = kb.types[prof.name].fallback
        for symbol, _ in prof.markers:
            found = families.setdefault(symbol, set())
            if not fallback:  # fallbacks share their lineage's genes on purpose
                found.add(kb.root(prof.name))
    programs = {g.upper() for name in STATE_PROGRAMS for g in kb.functional_programs.get(name, ())}
    specificity = {s: (PROGRAM_WEIGHT if s.upper() in programs else 1.0) / max(1, len(f))
                   for s, f in families.items()}

    lookup: dict[str, set[str]] = {}
    all_symbols = set(families) | {s for p in profiles.values() for s in p.negatives}
    for symbol in all_symbols:
        for key in _keys_for(symbol, kb, is_mouse):
            lookup.setdefault(key, set()).add(symbol)
    return _Index(profiles, order, {k: tuple(sorted(v)) for k, v in lookup.items()}, specificity)


def _keys_for(symbol: str, kb: KnowledgeBase, is_mouse: bool) -> Iterable[str]:
    """Input symbols (upper-cased) that count as this knowledge-base marker."""
    upper = symbol.upper()
    if not is_mouse:
        return (upper,)
    if upper in kb.human_only_genes:
        return ()
    return tuple(m.upper() for m in kb.mouse_orthologs.get(upper, (symbol,)))
