"""The Cell Ontology terms, loaded once and lazily from ``cellxgene-ontology-guide``.

That package ships recent CL releases inside its wheel, so nothing here touches the network.
Only ``CL:`` terms are kept. Graph questions (ancestors, common ancestors, distance) are
answered from the pre-computed is_a ancestor distances the package provides.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from ..errors import InputError

_ID_PATTERN = re.compile(r"^\s*CL[:_](\d{7})\s*$", re.IGNORECASE)


def normalise_id(cl_id: str) -> str:
    """``"CL_0000084"`` / ``"cl:0000084"`` -> ``"CL:0000084"``; anything else is an InputError."""
    match = _ID_PATTERN.match(cl_id) if isinstance(cl_id, str) else None
    if not match:
        raise InputError(
            f"{cl_id!r} is not a Cell Ontology ID; write it as CL:0000084 (seven digits, "
            "'CL:' or 'CL_' prefix)."
        )
    return f"CL:{match.group(1)}"


def looks_like_id(text: str) -> bool:
    return bool(_ID_PATTERN.match(text))


@dataclass(frozen=True)
class Term:
    cl_id: str
    label: str
    synonyms: tuple[str, ...]
    deprecated: bool
    replaced_by: str | None
    # is_a ancestors (CL only) -> number of steps up; does not include the term itself.
    ancestors: dict[str, int] = field(hash=False, compare=False)


@dataclass(frozen=True)
class CellOntology:
    version: str
    terms: dict[str, Term]
    load_seconds: float

    def get(self, cl_id: str) -> Term | None:
        return self.terms.get(normalise_id(cl_id))

    def current(self, cl_id: str) -> Term | None:
        """The live term for an ID, following ``replaced_by`` from deprecated IDs."""
        term = self.get(cl_id)
        seen: set[str] = set()
        while term is not None and term.deprecated and term.replaced_by and term.cl_id not in seen:
            seen.add(term.cl_id)
            term = self.terms.get(term.replaced_by)
        if term is None or term.deprecated:
            return None
        return term

    def ancestor_distances(self, cl_id: str) -> dict[str, int]:
        """Ancestors with their distance, including the term itself at 0 ({} if unknown)."""
        term = self.current(cl_id)
        if term is None:
            return {}
        return {term.cl_id: 0, **term.ancestors}

    def lowest_common_ancestor(self, a: str, b: str) -> tuple[str, int] | None:
        """(LCA, path length through it). Ties go to the deeper term, then the smaller ID."""
        up_a, up_b = self.ancestor_distances(a), self.ancestor_distances(b)
        common = up_a.keys() & up_b.keys()
        if not common:
            return None

        def rank(cl_id: str) -> tuple[int, int, str]:
            return (up_a[cl_id] + up_b[cl_id], -len(self.terms[cl_id].ancestors), cl_id)

        best = min(common, key=rank)
        return best, up_a[best] + up_b[best]


_lock = threading.Lock()
_loaded: CellOntology | None = None


def get_ontology() -> CellOntology:
    """Load the Cell Ontology on first use (about a tenth of a second) and keep it."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
    return _loaded


def _load() -> CellOntology:
    # Imported here: the package decompresses its data on first use, and importing cassia
    # must stay free of that work.
    from cellxgene_ontology_guide.ontology_parser import OntologyParser

    start = time.perf_counter()
    parser = OntologyParser()
    version = str(parser.cxg_schema.supported_ontologies["CL"]["version"])
    terms: dict[str, Term] = {}
    # Every ID, deprecated ones too (their labels can be empty or shared, so the package's
    # label -> ID map would drop some), so that old IDs can be followed to their replacement.
    for cl_id in parser.cxg_schema.ontology("CL"):
        if not cl_id.startswith("CL:"):
            continue
        ancestors = parser.get_term_ancestors_with_distances(cl_id)
        terms[cl_id] = Term(
            cl_id=cl_id,
            label=parser.get_term_label(cl_id),
            synonyms=tuple(parser.get_term_synonyms(cl_id)),
            deprecated=bool(parser.is_term_deprecated(cl_id)),
            replaced_by=parser.get_term_replacement(cl_id),
            ancestors={a: int(d) for a, d in ancestors.items() if a.startswith("CL:")},
        )
    return CellOntology(version=version, terms=terms, load_seconds=time.perf_counter() - start)
