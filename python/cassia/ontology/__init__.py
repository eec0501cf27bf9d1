"""Cell Ontology lookups: free-text name -> CL term, ancestors, common ancestors, distance.

Works offline from the CL release bundled with ``cellxgene-ontology-guide``; the ontology and
the name index are built on first use (about a quarter of a second) and then kept.

>>> from cassia import ontology
>>> ontology.map_name("CD8+ T cells").label          # doctest: +SKIP
'CD8-positive, alpha-beta T cell'
>>> ontology.lowest_common_ancestor("CL:0000236", "CL:0000084")  # B cell, T cell -> lymphocyte
'CL:0000542'
>>> m = ontology.map_name("NK/T cells"); m.label, [p.label for p in m.parts]   # doctest: +SKIP
('lymphocyte', ['natural killer cell', 'T cell'])
>>> ontology.map_name("Malignant epithelial cells").qualifiers                   # doctest: +SKIP
('malignant',)

IDs are returned as ``CL:0000084``; ``CL_0000084`` is accepted as input. Deprecated IDs are
followed to their replacement where the ontology names one. Only live ``CL:`` terms are ever
returned by the mapper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from ..errors import InputError
from . import _match
from ._compound import COMPOUND_FACTOR, MIN_ANCESTOR_DEPTH, qualifiers_of, split_compound
from ._terms import get_ontology, looks_like_id, normalise_id

__all__ = [
    "TermMatch",
    "ancestors",
    "candidates",
    "current_id",
    "distance",
    "first_cl_id",
    "index_info",
    "is_ancestor",
    "is_cell_type",
    "label",
    "lowest_common_ancestor",
    "map_name",
    "normalise_id",
    "split_compound",
]

METHODS = ("exact", "synonym", "normalised", "abbreviation", "fuzzy", "compound", "unmapped")


@dataclass(frozen=True)
class TermMatch:
    """The Cell Ontology term a free-text name maps to.

    ``method`` says how: "exact" (label), "synonym", "normalised" (after case, plural,
    +/-, bracket, qualifier... rules), "abbreviation", "fuzzy" (ranked token overlap),
    "compound" (a name listing several types: ``parts`` holds each part's match and the term is
    their lowest common ancestor, or None when that ancestor is uninformative; when the other
    parts are all ancestors of one part, "DC or immune cell", that part), or "unmapped"
    (``cl_id`` and ``label`` are None, ``confidence`` 0). ``qualifiers`` are disease and state
    words of the name that the term does not carry ("malignant", "proliferating").
    """

    query: str
    cl_id: str | None
    label: str | None
    confidence: float
    method: str
    parts: tuple["TermMatch", ...] = ()
    qualifiers: tuple[str, ...] = ()

    @property
    def compound(self) -> bool:
        return bool(self.parts)


def map_name(name: str, *, min_confidence: float = 0.8) -> TermMatch:
    """The best CL term for a free-text cell type name, or an "unmapped" match.

    A name is only mapped when the best candidate's confidence reaches ``min_confidence``;
    there is no forced guess. A name listing several types ("NK/T cells") maps part by part
    (see :class:`TermMatch`), unless the whole name is itself a label or synonym.
    """
    _check_confidence(min_confidence)
    if not isinstance(name, str):
        raise InputError(f"A cell type name must be text, got {type(name).__name__}; pass a string.")
    return _map_name(name, float(min_confidence))


@lru_cache(maxsize=16384)
def _map_name(name: str, min_confidence: float) -> TermMatch:
    best = candidates(name, top=1)
    whole = best[0] if best and best[0].confidence >= min_confidence else None
    if whole is None or whole.method not in ("exact", "synonym"):
        compound = _map_compound(name, min_confidence)
        if compound is not None:
            return compound
    if whole is None:
        return TermMatch(query=name, cl_id=None, label=None, confidence=0.0, method="unmapped")
    qualifiers = qualifiers_of(name, whole.label)
    return replace(whole, qualifiers=qualifiers) if qualifiers else whole


def _map_compound(name: str, min_confidence: float) -> TermMatch | None:
    """Several distinct mapped parts -> their common ancestor (None: not a compound)."""
    texts = split_compound(name)
    if len(texts) < 2:
        return None
    parts = tuple(_map_name(text, min_confidence) for text in texts)
    mapped = [p for p in parts if p.cl_id is not None]
    ids = list(dict.fromkeys(p.cl_id for p in mapped))
    if len(ids) < 2 or len(mapped) < len(parts):
        return None  # one type written twice, or a part that is not a type: read the name whole
    # "dendritic cell or immune cell": the other parts only hedge towards an ancestor of one part
    specific = [i for i in ids if all(is_ancestor(other, i) for other in ids)]
    common: str | None = specific[0] if specific else ids[0]
    for other in ids[1:] if not specific else ():
        common = lowest_common_ancestor(common, other) if common else None
    if common is not None and len(ancestors(common)) < MIN_ANCESTOR_DEPTH:
        common = None  # "cell", "eukaryotic cell": names no type
    confidence = round(min(p.confidence for p in parts) * COMPOUND_FACTOR, 3)
    return TermMatch(query=name, cl_id=common, label=label(common) if common else None,
                     confidence=confidence if common else 0.0, method="compound", parts=parts,
                     qualifiers=qualifiers_of(name, " ".join(p.label or "" for p in parts)))


def first_cl_id(names: list[str]) -> str | None:
    """The CL term of the first name (most specific first) that maps confidently."""
    for name in names:
        if name:
            match = map_name(name)
            if match.cl_id:
                return match.cl_id
    return None


def candidates(name: str, *, top: int = 5) -> list[TermMatch]:
    """Up to ``top`` CL terms for a name, most confident first (may be empty)."""
    if not isinstance(name, str):
        raise InputError(f"A cell type name must be text, got {type(name).__name__}; pass a string.")
    if not isinstance(top, int) or top < 1:
        raise InputError(f"top must be a positive integer, got {top!r}.")
    return list(_candidates(name, top))


@lru_cache(maxsize=16384)
def _candidates(name: str, top: int) -> tuple[TermMatch, ...]:
    # Runs repeat the same few names (every cluster's validator and formatter map theirs), and
    # fuzzy ranking costs milliseconds: remember the answers.
    if looks_like_id(name):
        term = get_ontology().current(name)
        return () if term is None else (TermMatch(name, term.cl_id, term.label, 1.0, "exact"),)
    onto = get_ontology()
    return tuple(
        TermMatch(name, hit.cl_id, onto.terms[hit.cl_id].label, round(hit.confidence, 3), hit.method)
        for hit in _match.rank(name, top=top)
    )


def is_cell_type(name: str, *, min_confidence: float = 0.8) -> bool:
    """True when the name maps to a CL term (or, for a compound, all its parts do)."""
    match = map_name(name, min_confidence=min_confidence)
    return match.cl_id is not None or (match.compound and all(p.cl_id for p in match.parts))


def label(cl_id: str) -> str | None:
    """The term's label ("CL:0000084" -> "T cell"); None for an unknown ID."""
    term = get_ontology().get(cl_id)
    return term.label if term is not None else None


def current_id(cl_id: str) -> str | None:
    """The live ID for ``cl_id`` (itself, or its replacement if deprecated); None if none."""
    term = get_ontology().current(cl_id)
    return term.cl_id if term is not None else None


def ancestors(cl_id: str) -> list[str]:
    """All is_a ancestors (CL terms only), nearest first; [] for an unknown or obsolete ID."""
    up = get_ontology().ancestor_distances(cl_id)
    return [a for a, d in sorted(up.items(), key=lambda kv: (kv[1], kv[0])) if d > 0]


def is_ancestor(ancestor: str, cl_id: str) -> bool:
    """True when ``ancestor`` is ``cl_id`` itself or one of its is_a ancestors."""
    target = current_id(ancestor)
    return target is not None and target in get_ontology().ancestor_distances(cl_id)


def lowest_common_ancestor(a: str, b: str) -> str | None:
    """The closest shared is_a ancestor (a term itself when it is an ancestor of the other)."""
    found = get_ontology().lowest_common_ancestor(a, b)
    return found[0] if found else None


def distance(a: str, b: str) -> int | None:
    """Steps between two terms on the is_a graph, through their lowest common ancestor.

    0 for the same term, 1 for parent and child; None when either ID is unknown.
    """
    found = get_ontology().lowest_common_ancestor(a, b)
    return found[1] if found else None


def load() -> None:
    """Build the name index now (once per process; later calls return at once).

    A run calls it in a thread as it starts: the first review needs the index, and built on
    the event loop it held every request in flight for a third of a second.
    """
    _match.get_index()


def index_info() -> dict[str, object]:
    """CL release and build timings of the name index (builds it if needed)."""
    index = _match.get_index()
    onto = index.onto
    return {
        "cl_version": onto.version,
        "terms": len(onto.terms),
        "live_terms": sum(not t.deprecated for t in onto.terms.values()),
        "index_entries": len(index.entries),
        "load_seconds": round(onto.load_seconds, 4),
        "index_build_seconds": round(index.build_seconds, 4),
    }


def _check_confidence(value: float) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise InputError(f"min_confidence must be a number between 0 and 1, got {value!r}.")

