"""Compound and qualified names: "NK/T cells", "Megakaryocytes/platelets", "Malignant epithelial cells".

A compound name lists several types ("X/Y", "X or Y", "X and Y cells"). Reading it as one of its
parts would make different answers look the same, so a compound is mapped part by part and
stands, as a whole, for the parts' lowest common ancestor ("NK/T cells" -> lymphocyte) when that
ancestor still says something (at least ``MIN_ANCESTOR_DEPTH`` is_a steps below the root; "cell"
or "eukaryotic cell" says nothing, and the compound is then left without a term).

Disease and state words ("malignant", "tumour", "proliferating", ...) qualify a type without
changing which type it is: the type is mapped without them and the words are kept as
``qualifiers`` of the match, so "Malignant epithelial cells" is an epithelial cell *qualified* as
malignant, not a plain epithelial cell.
"""

from __future__ import annotations

import re

from ._text import strip_brackets, tokens

# "/", ";", "&", "or", "and", "vs": the words people join alternatives or mixtures with.
_JOIN = re.compile(r"\s*(?:/|;|&|\bor\b|\band\b|\bvs\.?(?=\s))\s*", re.IGNORECASE)
_ENDS_IN_CELL = re.compile(r"\bcells?$", re.IGNORECASE)
MIN_ANCESTOR_DEPTH = 2  # a common ancestor needs this many ancestors of its own to be informative
COMPOUND_FACTOR = 0.95  # a compound's confidence: its least confident part, times this
MAX_PARTS = 4

# Disease and state words kept as qualifiers (the ontology files cells by type, not by state).
DISEASE_QUALIFIERS = frozenset({"malignant", "tumor", "tumour", "cancer", "cancerous", "neoplastic",
                                "carcinoma", "benign", "premalignant", "dysplastic", "metaplastic"})
STATE_QUALIFIERS = frozenset({"activated", "proliferating", "proliferative", "cycling", "dividing",
                              "mitotic", "resting", "quiescent", "stressed", "inflammatory",
                              "senescent", "exhausted", "apoptotic", "dying", "reactive",
                              "infected", "interferon"})
QUALIFIER_WORDS = DISEASE_QUALIFIERS | STATE_QUALIFIERS
# Words that say the same thing: a label that has one of them already carries the qualifier.
_SAME = {"tumor": "malignant", "tumour": "malignant", "cancer": "malignant", "cancerous": "malignant",
         "neoplastic": "malignant", "carcinoma": "malignant", "proliferative": "proliferating",
         "cycling": "proliferating", "dividing": "proliferating", "mitotic": "proliferating"}


def split_compound(name: str) -> list[str]:
    """The listed types of a compound name; one item for a simple name.

    "NK/T cells" -> ["NK cell", "T cells"]: a head noun written once ("cells") is shared.
    Brackets are ignored for splitting ("Monocytes/macrophages (CD14+)").
    """
    outside, _ = strip_brackets(name)
    parts = [p.strip(" .,") for p in _JOIN.split(outside) if p and p.strip(" .,")]
    if len(parts) < 2:
        return [name]
    if _ENDS_IN_CELL.search(parts[-1]):
        parts = [p if _ENDS_IN_CELL.search(p) else f"{p} cell" for p in parts[:-1]] + parts[-1:]
    return parts[:MAX_PARTS]


def qualifiers_of(name: str, label: str | None) -> tuple[str, ...]:
    """Disease/state words of ``name`` that the matched term's label does not contain."""
    label_words = {_SAME.get(t, t) for t in tokens(label or "")}
    found = [t for t in tokens(name) if t in QUALIFIER_WORDS and _SAME.get(t, t) not in label_words]
    return tuple(dict.fromkeys(found))
