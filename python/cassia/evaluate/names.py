"""Reading a cell-type label for grading: parts of a combined label, CL terms, categories.

A label can name one type ("CD8+ T cells"), several ("Monocytes/Macrophages", "Mixed cell
types (excitatory neurons, inhibitory neurons)") or none ("Unknown", ""). Each part is mapped
with :func:`cassia.ontology.map_name`. When a part does not reach the mapper's confidence
threshold, its lower-confidence candidates may still agree on a broad category ("Excitatory
neurons" -> several kinds of neuron): the part then keeps that category but no CL term, so it
can earn partial credit or be judged wrong, never full credit by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .. import ontology
from .categories import Category, category, category_of

# Labels that say "no call" rather than naming a type.
NO_CALL = {"", "na", "nan", "none", "unknown", "unassigned", "unclassified", "undetermined",
           "not applicable", "no match", "unknown cell", "unknown cells", "unknown cell type",
           "uncertain", "ambiguous", "other", "others"}
# A label made only of these words names no type ("Proliferating cells", "Unknown / novel").
VAGUE_WORDS = {"proliferating", "proliferative", "cycling", "dividing", "mitotic", "cycle", "cell",
               "cells", "unknown", "undefined", "unidentified", "unspecified", "undetermined",
               "unclear", "uncertain", "ambiguous", "various", "mixed", "mixture", "normal", "novel",
               "other", "others", "type", "types", "population", "populations", "not", "applicable",
               "no", "specific", "to", "a", "an", "single", "of", "the", "or", "and", "na", "none",
               "unassigned", "unclassified", "low", "quality", "doublet", "doublets", "group",
               "cluster", "lineage", "multiple"}
# Words that describe genes or molecules, not cells ("Non-coding RNA", "ECM-related genes").
MOLECULE_WORDS = {"gene", "genes", "rna", "rnas", "ncrna", "lncrna", "element", "elements", "factor",
                  "factors", "component", "components", "synapse", "synapses", "protein", "proteins",
                  "pathway", "pathways", "transcript", "transcripts", "marker", "markers"}
# Words around a bracketed list that only announce a mixture ("Mixed cell types (A, B)").
_MIXTURE_WORDS = {"mixed", "mixture", "mix", "of", "cell", "cells", "type", "types", "population",
                  "populations", "possible", "likely", "multiple", "doublet", "doublets"}
_SPLIT = re.compile(r"\s*(?:/|;|&|,|\bor\b|\band\b|\bvs\.?(?=\s))\s*", re.IGNORECASE)
_BRACKET = re.compile(r"^(?P<out>[^()]*)\((?P<in>[^()]*)\)\s*$")

# Names that mean one kind of cell in several organs, with no single ontology term: outside the
# nervous system "stellate cells" are the fibroblast-like stellate cells of the liver (Ito cells)
# and the pancreas, so the name carries their broad category and no term.
CATEGORY_NAMES = {"stellate": "fibroblast/stromal cell"}
# State words around such a name ("activated stellate", "quiescent stellate cells").
_STATE_WORDS = {"activated", "quiescent", "resting", "mature", "immature", "fetal", "adult", "cell", "cells",
                "like", "reactive", "inflammatory", "proliferating", "cycling"}
FALLBACK_MIN_CONFIDENCE = 0.45  # lowest candidate confidence considered for a category
FALLBACK_WINDOW = 0.15  # candidates this close to the best vote on the category
FALLBACK_SHARE = 0.65  # share of the votes the winning category needs
MAX_PARTS = 4


@dataclass(frozen=True)
class Part:
    """One named type in a label: its CL term (None if unmapped) and broad category."""

    text: str
    cl_id: str | None
    label: str | None
    category: Category | None
    method: str  # the mapper's method, "category-only" (candidates agree) or "unmapped"

    @property
    def mapped(self) -> bool:
        return self.cl_id is not None


@dataclass(frozen=True)
class ReadLabel:
    """A whole label read for grading."""

    text: str
    parts: tuple[Part, ...]
    no_call: bool = False

    @property
    def combined(self) -> bool:
        return len(self.parts) > 1

    @property
    def usable(self) -> tuple[Part, ...]:
        """Parts with a CL term or at least a category."""
        return tuple(p for p in self.parts if p.mapped or p.category is not None)


def is_no_call(text: str) -> bool:
    """True for labels that name no cell type: "", "Unknown", "Proliferating cells", ..."""
    flat = " ".join(str(text).lower().replace("_", " ").split()).strip(" .")
    if flat in NO_CALL:
        return True
    words = re.findall(r"[^\W\d_]+", flat)  # letters of any script: "δ cell" names a type
    return bool(words) and set(words) <= VAGUE_WORDS


def read_label(text: str, *, min_confidence: float = 0.8) -> ReadLabel:
    """Split a label into parts and map each to the Cell Ontology (cached)."""
    return _read_label(" ".join(str(text).split()), min_confidence)


def read_id(cl_id: str) -> ReadLabel:
    """A label given as a CL ID (old IDs follow their replacement)."""
    current = ontology.current_id(cl_id)
    if current is None:
        return ReadLabel(cl_id, (Part(cl_id, None, None, None, "unmapped"),))
    return ReadLabel(cl_id, (Part(cl_id, current, ontology.label(current), category_of(current), "id"),))


@lru_cache(maxsize=16384)
def _read_label(text: str, min_confidence: float) -> ReadLabel:
    if is_no_call(text):
        return ReadLabel(text, (), no_call=True)
    if looks_like_id(text):
        return read_id(text)
    whole = map_part(text, min_confidence)
    if whole.method in ("exact", "synonym"):
        return ReadLabel(text, (whole,))
    if not whole.mapped and whole.category is None and _about_molecules(text):
        return ReadLabel(text, (), no_call=True)
    pieces = split_label(text)
    if len(pieces) > 1:
        parts = tuple(map_part(p, min_confidence) for p in pieces)
        usable = [p for p in parts if p.mapped or p.category is not None]
        distinct = {p.cl_id or p.category.name for p in usable}
        if len(distinct) > 1:
            # Parts that could not be read at all ("ECM genes") are ignored beside real types.
            return ReadLabel(text, tuple(usable))
        if usable and not whole.mapped:
            return ReadLabel(text, (usable[0],))
    return ReadLabel(text, (whole,))


def split_label(text: str) -> list[str]:
    """"A/B", "A or B", "A, B", "Mixed (A, B)" -> their parts (at most four)."""
    bracket = _BRACKET.match(text)
    if bracket:
        outside_words = set(re.findall(r"[a-z]+", bracket.group("out").lower()))
        if outside_words and outside_words <= _MIXTURE_WORDS:
            text = bracket.group("in")
    parts = [p.strip(" .") for p in _SPLIT.split(text) if p and p.strip(" .")]
    return parts[:MAX_PARTS]


def map_part(text: str, min_confidence: float = 0.8) -> Part:
    """One type name -> Part, with the category-only fallback for low-confidence names."""
    if looks_like_id(text):
        return read_id(text).parts[0]
    match = ontology.map_name(text, min_confidence=min_confidence)
    if match.cl_id is not None:
        return Part(text, match.cl_id, match.label, category_of(match.cl_id), match.method)
    category = _named_category(text) or _candidate_category(text) or _head_category(text, min_confidence)
    return Part(text, None, None, category, "category-only" if category else "unmapped")


def _named_category(text: str) -> Category | None:
    """The category of a name from :data:`CATEGORY_NAMES`, state words aside."""
    words = set(re.findall(r"[a-z]+", text.lower())) - _STATE_WORDS
    return category(CATEGORY_NAMES[words.pop()]) if len(words) == 1 and words <= CATEGORY_NAMES.keys() else None


def _candidate_category(text: str) -> Category | None:
    """The category most good low-confidence candidates share, if one clearly dominates.

    Candidates within :data:`FALLBACK_WINDOW` of the best (and above
    :data:`FALLBACK_MIN_CONFIDENCE`) vote with their confidence; a category wins with at
    least :data:`FALLBACK_SHARE` of the votes. Candidates outside every category abstain.
    """
    found = [c for c in ontology.candidates(text, top=6) if c.confidence >= FALLBACK_MIN_CONFIDENCE]
    if not found:
        return None
    best = found[0].confidence
    votes: dict[Category, float] = {}
    for candidate in found:
        category = category_of(candidate.cl_id)
        if candidate.confidence >= best - FALLBACK_WINDOW and category is not None:
            votes[category] = votes.get(category, 0.0) + candidate.confidence
    if not votes:
        return None
    winner = max(votes, key=votes.get)
    return winner if votes[winner] >= FALLBACK_SHARE * sum(votes.values()) else None


def _about_molecules(text: str) -> bool:
    return bool(set(re.findall(r"[a-z]+", text.lower())) & MOLECULE_WORDS)


def _head_category(text: str, min_confidence: float) -> Category | None:
    """Drop leading modifiers until the rest maps: "Inflammatory CAF fibroblast" -> fibroblast.

    English puts the kind of cell last, so the shortest mappable ending names a type the
    label belongs to (its category is kept, never the more general term itself).
    """
    words = text.replace("_", " ").split()
    for start in range(1, len(words)):
        rest = " ".join(words[start:])
        if is_no_call(rest):
            break
        match = ontology.map_name(rest, min_confidence=min_confidence)
        if match.cl_id is not None:
            return category_of(match.cl_id)
    return None


def looks_like_id(text: str) -> bool:
    return bool(re.match(r"^\s*CL[:_]\d{7}\s*$", text, re.IGNORECASE))
