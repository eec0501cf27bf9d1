"""From scored candidates to a call: general type, subtypes, confidence and mixtures.

:func:`call_cell_type` wraps :func:`~cassia.knowledge.score.rank_cell_types` and decides

- the most probable general type (the root of the best candidate's family) and up to three
  subtypes, best-supported first: the best candidate itself (the most specific type the evidence
  supports, which is the general type when no subtype outscores it), then other types of its
  family with their own supporting markers; a lineage-level fallback
  ("epithelial cell", "stromal cell") is the answer only when no specific type of its lineage
  would be a call on its own;
- whether the evidence is strong enough for a call at all: random genes rarely reach two
  matched markers and the score :func:`min_score` asks of a list of their length (chance hits
  add up with length: fewer than 1 in 100 random lists of up to 15 genes reach two markers of
  one type at all, while lists of 50 need a score of ``MIN_SCORE`` to stay that rare);
  below that, the marker databases' evidence is added when their tables are on this machine
  (:mod:`cassia.knowledge.database_call`, a low-confidence call when the two together exceed
  what random genes reach), and what is still within chance becomes an explicit "unknown" answer;
- whether another, unrelated lineage is supported by its own markers almost as well (a likely
  mixed population or doublet cluster).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .database_call import database_evidence
from .kb import KnowledgeBase, load_knowledge_base, symbols_species
from .score import Candidate, normalise_genes, rank_cell_types

if TYPE_CHECKING:
    from .markerdb import MarkerIndex

MIN_SCORE = 0.24  # the score a list of 50 genes or more needs for a call (benchmarks/offline_null_calibration.py)
MIN_MARKERS = 2  # a call needs at least this many matched markers
# (list length, score a call needs): 99% of random lists of that length stay below it (or below
# MIN_MARKERS), measured by benchmarks/offline_null_calibration.py; interpolated in between.
MIN_SCORE_BY_LENGTH = ((10, 0.0), (15, 0.15), (30, 0.17), (50, MIN_SCORE))
MIXED_RATIO = 0.5  # another family this close to the best one may be mixed in
MIXED_MAX_SHARED = 0.34  # ... if at most this share of its markers also support the best type
UNKNOWN = "Unknown"

Confidence = Literal["none", "low", "moderate", "high"]


@dataclass(frozen=True)
class KBCall:
    """The knowledge base's answer for one marker list."""

    genes: tuple[str, ...]
    species: str
    tissue: str | None  # canonical tissue used as prior, None = tissue-blind
    candidates: tuple[Candidate, ...]
    best: Candidate | None
    confidence: Confidence
    general_type: str | None
    subtypes: tuple[str, ...]
    mixed_types: tuple[str, ...]
    mixed_population: bool
    margin: float  # best score minus the runner-up's
    lineage_margin: float  # best score minus the best candidate of another family
    functional: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()

    @property
    def confident(self) -> bool:
        return self.confidence != "none"

    @property
    def label(self) -> str:
        """The call to report: the best candidate, or ``Unknown`` when the evidence is too weak."""
        return self.best.name if self.best is not None and self.confident else UNKNOWN

    @property
    def general_label(self) -> str:
        return self.general_type if self.general_type and self.confident else UNKNOWN

    @property
    def key_markers(self) -> list[str]:
        """Input genes that support the call, best-ranked first."""
        return self.best.matched_genes if self.best is not None else []

    @property
    def quality(self) -> int:
        """0-100 strength of the evidence: score, several top-ranked markers, margin, purity."""
        if self.best is None or not self.confident:
            return min(20, int(100 * (1 - math.exp(-(self.best.score if self.best else 0) / 0.6))))
        strength = 1 - math.exp(-self.best.score / 0.6)
        top_ranked = sum(1 for h in self.best.matched if h.rank <= 10)
        breadth = min(1.0, 0.55 + 0.15 * top_ranked)
        separation = min(1.0, 0.6 + 0.8 * self.lineage_margin / self.best.score)
        value = 100 * strength * breadth * separation
        if self.mixed_population:
            value = min(value, 60)
        return max(0, min(100, round(value)))


def call_cell_type(
    genes: Sequence[str] | str,
    *,
    species: str = "human",
    tissue: str | None = None,
    top: int = 10,
    kb: KnowledgeBase | None = None,
    databases: "MarkerIndex | bool | None" = None,
) -> KBCall:
    """Annotate one ranked marker list from the knowledge base (deterministic, offline).

    ``databases``: the marker-database index whose evidence counts beside the knowledge base's
    (:mod:`cassia.knowledge.database_call`: it rescues an abstention or replaces a weaker call);
    None (default) uses the tables if they are on this machine
    (:func:`cassia.knowledge.markerdb.local_index`, never a download), False the knowledge base alone.
    """
    if kb is None:  # the shipped knowledge base: every agent of a cluster asks about the same list
        kb = load_knowledge_base()
        index = _resolve_index(databases)
        key = (genes if isinstance(genes, str) else tuple(genes), species, tissue, top, id(kb), id(index))
        with _recent_lock:
            hit = _recent.get(key)
            if hit is not None:
                _recent.move_to_end(key)
                return hit[-1]
        call = _call(genes, species=species, tissue=tissue, top=top, kb=kb, databases=index or False)
        with _recent_lock:
            _recent[key] = (kb, index, call)  # kb and index kept alive, so their ids cannot be reused
            while len(_recent) > RECENT_CALLS:
                _recent.popitem(last=False)
        return call
    return _call(genes, species=species, tissue=tissue, top=top, kb=kb, databases=databases)


# The latest calls on the shipped knowledge base (a KBCall is immutable, so it can be shared).
RECENT_CALLS = 1024
_recent: OrderedDict = OrderedDict()
_recent_lock = threading.Lock()


def _resolve_index(databases: "MarkerIndex | bool | None") -> "MarkerIndex | None":
    """The marker-database index a call uses (None: the knowledge base alone)."""
    if databases is None or databases is True:
        from .markerdb import local_index

        return local_index()
    return databases or None


def _call(genes: Sequence[str] | str, *, species: str, tissue: str | None, top: int, kb: KnowledgeBase,
          databases: "MarkerIndex | bool | None") -> KBCall:
    ranked = normalise_genes(genes)
    everything = rank_cell_types(genes, species=species, tissue=tissue, top=None, kb=kb)
    best = _prefer_specific(everything, kb, min_score(len(ranked)))
    functional = _functional(ranked, kb)
    base = dict(
        genes=tuple(original for _, _, original in ranked),
        species=symbols_species(tuple(original for _, _, original in ranked), species),
        tissue=kb.resolve_tissue(tissue),
        candidates=tuple(everything[:top]),
        functional=functional,
    )
    if best is None:
        rescued = _with_databases(base, everything, None, kb, databases)
        if rescued is not None:
            return rescued
        return KBCall(**base, best=None, confidence="none", general_type=None, subtypes=(), mixed_types=(),
                      mixed_population=False, margin=0.0, lineage_margin=0.0,
                      reasons=("no marker of the list is in the knowledge base",))

    family = best.general_type
    # lineage-level fallbacks never count as a competing lineage or an admixture
    others = [c for c in _best_per_other_family(everything, family) if not kb.types[c.name].fallback]
    lineage_margin = best.score - (others[0].score if others else 0.0)
    subtypes = _subtypes(best, everything)
    mixed = [c for c in others if _supports_mixture(best, c)]
    mixed_population = any(c.lineage != best.lineage for c in mixed)

    reasons = []
    needed = min_score(len(ranked))
    if len(best.matched) < MIN_MARKERS:
        reasons.append(f"only {len(best.matched)} marker of the list supports the best candidate ({best.name})")
    if best.score < needed:
        reasons.append(f"the best score {best.score:.2f} is below the {needed:.2f} a list of {len(ranked)} genes "
                       "needs for a call")
    confidence: Confidence
    if reasons:
        confidence = "none"
        rescued = _with_databases(base, everything, best, kb, databases)
        if rescued is not None:
            return rescued
    elif best.score < 0.5 or lineage_margin < 0.15 * best.score:
        confidence = "low"
    elif best.score < 1.0 or mixed_population:
        confidence = "moderate"
    else:
        confidence = "high"
    if confidence != "none" and lineage_margin < 0.15 * best.score and others:
        reasons.append(f"{others[0].name} ({others[0].general_type}) scores almost as high: the lineage is ambiguous")
    if mixed_population:
        names = ", ".join(f"{c.name} ({', '.join(c.matched_genes[:3])})" for c in mixed if c.lineage != best.lineage)
        reasons.append(f"an unrelated lineage is also supported by its own markers: {names}")
    if confidence != "none" and not mixed_population:  # a mixture is the knowledge base's finding
        changed = _with_databases(base, everything, best, kb, databases, confident=True,
                                  reasons=tuple(f"knowledge base: {r}" for r in reasons)
                                  + (f"knowledge base: {best.name} ({', '.join(best.matched_genes[:4])})",))
        if changed is not None:
            return changed
    return KBCall(
        **base,
        best=best,
        confidence=confidence,
        general_type=family,
        subtypes=subtypes,
        mixed_types=tuple(c.name for c in mixed),
        mixed_population=mixed_population,
        margin=best.margin,
        lineage_margin=round(lineage_margin, 4),
        reasons=tuple(reasons),
    )


def _with_databases(base: dict, everything: list[Candidate], best: Candidate | None, kb: KnowledgeBase,
                    databases: "MarkerIndex | bool | None", *, confident: bool = False,
                    reasons: tuple[str, ...] = ()) -> KBCall | None:
    """The call as the marker databases change it (:mod:`cassia.knowledge.database_call`): a
    rescued abstention or a better-supported database type; None when nothing changes or no
    index is at hand."""
    if databases is False:
        return None
    if databases is None or databases is True:
        from .markerdb import local_index

        databases = local_index()
        if databases is None:
            return None
    found = database_evidence(base["genes"], best, databases, kb_confident=confident, species=base["species"],
                              tissue=base["tissue"], kb=kb)
    if found is None:
        return None
    chosen = found.best
    family = chosen.general_type
    if found.from_databases:
        subtypes = (chosen.name,) if chosen.name != family else ()
    else:
        subtypes = _subtypes(chosen, everything)
    return KBCall(**base, best=chosen, confidence="low", general_type=family, subtypes=subtypes, mixed_types=(),
                  mixed_population=False, margin=0.0, lineage_margin=0.0,
                  reasons=(*reasons, found.reason, "decided with the marker databases: a low-confidence call"))


def _subtypes(best: Candidate, everything: list[Candidate]) -> tuple[str, ...]:
    """The best candidate, then up to two other supported types of its family (best first).

    The best candidate leads because it is what the evidence supports most: naming a weaker
    subtype instead (a subtype with one supporting marker under a well-supported general type)
    claims more than the markers show.
    """
    family = best.general_type
    others = [c.name for c in everything
              if c.general_type == family and c.name not in (family, best.name) and c.own_score > 0]
    return (best.name, *others)[:3]


def min_score(n_genes: int) -> float:
    """The score a call needs from a list of ``n_genes`` genes (:data:`MIN_SCORE_BY_LENGTH`)."""
    points = MIN_SCORE_BY_LENGTH
    if n_genes <= points[0][0]:
        return points[0][1]
    for (n0, s0), (n1, s1) in zip(points, points[1:]):
        if n_genes <= n1:
            return round(s0 + (s1 - s0) * (n_genes - n0) / (n1 - n0), 4)
    return points[-1][1]


def _prefer_specific(candidates: list[Candidate], kb: KnowledgeBase, needed: float) -> Candidate | None:
    """The best candidate, except that a lineage-level fallback yields to any specific type of its
    lineage that is a call on its own (enough markers and score)."""
    if not candidates:
        return None
    best = candidates[0]
    if not kb.types[best.name].fallback:
        return best
    for c in candidates[1:]:
        if (not kb.types[c.name].fallback and c.lineage == best.lineage
                and len(c.matched) >= MIN_MARKERS and c.score >= needed):
            return c
    return best


def _best_per_other_family(candidates: list[Candidate], family: str) -> list[Candidate]:
    seen, out = {family}, []
    for c in candidates:
        if c.general_type not in seen:
            seen.add(c.general_type)
            out.append(c)
    return out


def _supports_mixture(best: Candidate, other: Candidate) -> bool:
    """Is ``other`` strongly supported by markers of its own, not by the best type's markers?"""
    if other.score < max(MIN_SCORE, MIXED_RATIO * best.score) or len(other.matched) < MIN_MARKERS:
        return False
    shared = set(other.matched_genes) & set(best.matched_genes)
    return len(shared) <= MIXED_MAX_SHARED * len(other.matched)


def _functional(ranked: list[tuple[str, int, str]], kb: KnowledgeBase) -> dict[str, tuple[tuple[str, int], ...]]:
    """Functional programs with at least two genes in the list: {program: ((gene, rank), ...)}."""
    out = {}
    for program, members in kb.functional_programs.items():
        wanted = {m.upper() for m in members}
        found = tuple((original, rank) for key, rank, original in ranked if key in wanted)
        if len(found) >= 2:
            out[program] = found
    return out
