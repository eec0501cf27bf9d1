"""Text normalisation shared by the Cell Ontology index and the queries.

The same :func:`tokens` runs on ontology labels/synonyms and on free-text names, so a rule only
has to make both sides agree (e.g. "renal" and "kidney" both become "kidney"), not be perfect
English. Query-only rewrites (abbreviations, stripping qualifiers) live in ``_rules``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Greek letters spelled out, as the Cell Ontology writes them ("alpha-beta T cell").
_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "κ": "kappa", "λ": "lambda",
          "ε": "epsilon", "μ": "mu"}

# British spellings and older variants -> the spelling the ontology mostly uses.
_SPELLING = [
    (re.compile(r"haem"), "hem"),
    (re.compile(r"hemopoie"), "hematopoie"),
    (re.compile(r"\boesophag"), "esophag"),
    (re.compile(r"\bfoet"), "fet"),
    (re.compile(r"tumour"), "tumor"),
    (re.compile(r"\bcentre"), "center"),
    (re.compile(r"\bfibre"), "fiber"),
    (re.compile(r"\bleuco"), "leuko"),
    (re.compile(r"\boestr"), "estr"),
    (re.compile(r"\bmueller\b"), "muller"),
    # "insulin-producing cell" is what the ontology calls "insulin secreting cell".
    (re.compile(r"\bproducing\b"), "secreting"),
]
# T cell receptor chains are one word to the matcher, so "alpha-beta" never looks like the
# "alpha" of a pancreatic alpha cell.
_CHAIN_PAIRS = {("alpha", "beta"): "alphabeta", ("gamma", "delta"): "gammadelta"}

# Organ adjectives and their nouns are used interchangeably in cell type names
# ("renal tubule cell" / "kidney tubule cell"); both sides collapse to the noun.
ORGAN_WORDS = {
    "renal": "kidney", "nephric": "kidney", "pulmonary": "lung", "hepatic": "liver",
    "cardiac": "heart", "gastric": "stomach", "colonic": "colon", "intestinal": "intestine",
    "corneal": "cornea", "esophageal": "esophagus", "pancreatic": "pancreas",
    "splenic": "spleen", "thymic": "thymus", "dermal": "dermis", "cutaneous": "skin",
    "epidermal": "epidermis", "bronchial": "bronchus", "tracheal": "trachea",
    "uterine": "uterus", "ovarian": "ovary", "testicular": "testis", "retinal": "retina",
    "cerebellar": "cerebellum", "hippocampal": "hippocampus", "breast": "mammary",
    "rectal": "rectum", "vesical": "bladder", "placental": "placenta",
    "prostatic": "prostate", "lingual": "tongue", "gingival": "gingiva", "tonsillar": "tonsil",
    # Structure adjectives, same idea ("collecting ductal cell" / "collecting duct cell").
    "tubular": "tubule", "ductal": "duct", "vascular": "vessel", "ventricular": "ventricle",
    "atrial": "atrium", "mucosal": "mucosa", "sinusoidal": "sinusoid",
}
# Compound words the ontology also spells as two ("cardiac myocyte").
_WORD_SPLITS = {"cardiomyocyte": ("heart", "myocyte")}
# Prefixes written joined, hyphenated or spaced ("myoepithelial", "myo-epithelial",
# "non classical"): always joined to the next word.
_JOIN_PREFIXES = frozenset({"myo", "extra", "intra", "inter", "neuro", "peri", "multi", "non",
                            "meso", "ecto", "supra", "infra", "retro", "juxta", "poly"})

# Words ending in "s" that are not plurals; words of three letters or fewer are left alone too.
_NOT_PLURAL_ENDINGS = ("ss", "us", "is", "as", "os", "ys")
_NOT_PLURAL = {"lens", "series", "species", "plexus", "corpus", "villus", "ganglions"}

_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6"}
# Roman numerals are numbers only after these words ("type II pneumocyte" = "type 2 ...").
_NUMBERED = {"type", "group", "class", "stage", "layer", "grade", "subtype", "subset", "cluster"}

_MARKER_LEVEL = re.compile(r"^([a-z]+[0-9]+[a-z]?)(bright|dim|high|hi|low|lo|pos|neg)$")
_TOKEN_ALIAS = {"pos": "positive", "neg": "negative", "hi": "high", "lo": "low"}

# Not "a": single letters name cell types ("pancreatic A cell", "B cell").
STOP_WORDS = frozenset({"of", "the", "an", "in", "and", "or", "from", "to", "for", "with"})


_GREEK_PATTERN = re.compile("[" + "".join(_GREEK) + "]")
_DASHES = re.compile("[\u2010-\u2015\u2212]")
_POSSESSIVE = re.compile(r"'s\b")
_NEGATIVE_SIGN = re.compile(r"(?<=[a-z0-9])-(?=\s|$|[,;/)\]])")
_WORD = re.compile(r"[a-z0-9]+")


def _spell_greek(match: re.Match[str]) -> str:
    before = match.string[match.start() - 1] if match.start() else ""
    return (" " if before.isalnum() else "") + _GREEK[match.group()] + " "


def fold(text: str) -> str:
    """Lower-case, spell out Greek letters and drop accents ("Müller" -> "muller")."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).lower()
    # "αβ" -> "alpha beta ", "non-β" -> "non-beta " (no space after a hyphen, so the
    # hyphen is not read as a negative marker sign).
    text = _GREEK_PATTERN.sub(_spell_greek, text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _DASHES.sub("-", text)
    return text.replace("\u2019", "'")


def singular(word: str) -> str:
    """Crude English singular that only has to agree with itself on both sides."""
    if len(word) <= 3 or not word.endswith("s") or word in _NOT_PLURAL:
        return word
    if word[-2].isdigit():  # "cdc1s", "ilc2s"
        return word[:-1]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith(_NOT_PLURAL_ENDINGS):
        return word
    return word[:-1]


def tokens(text: str) -> list[str]:
    return list(_tokens(text))


@lru_cache(maxsize=16384)
def _tokens(text: str) -> tuple[str, ...]:
    """Normalised word tokens of a cell type name.

    Handles case, accents, Greek letters, "+"/"-" marker signs ("CD8+" -> "cd8 positive",
    "CD34-" -> "cd34 negative"), glued marker levels ("CD56bright"), hyphens, underscores and
    punctuation, plurals, roman numerals after "type"/"group", spelling variants and organ
    adjectives.
    """
    text = fold(text)
    text = _POSSESSIVE.sub("", text).replace("_", " ").replace("+", " positive ")
    # A "-" glued to the end of a word, before a separator or the end, is a negative marker sign.
    text = _NEGATIVE_SIGN.sub(" negative ", text)
    for pattern, repl in _SPELLING:
        text = pattern.sub(repl, text)
    raw = _WORD.findall(text)
    out: list[str] = []
    for word in raw:
        level = _MARKER_LEVEL.match(word)
        parts = [level.group(1), level.group(2)] if level else [word]
        for part in parts:
            part = _TOKEN_ALIAS.get(part, part)
            if part in _ROMAN and out and out[-1] in _NUMBERED:
                part = _ROMAN[part]
            if part.isdigit() and out and out[-1] == "layer":
                out[-1] = "l" + part  # "layer 5" is written "L5" in cortical neuron names
                continue
            part = singular(part)
            if part in _WORD_SPLITS:
                out.extend(_WORD_SPLITS[part])
                continue
            part = ORGAN_WORDS.get(part, part)
            if out and (out[-1], part) in _CHAIN_PAIRS:
                out[-1] = _CHAIN_PAIRS[(out[-1], part)]
                continue
            if out and out[-1] in _JOIN_PREFIXES:
                out[-1] = out[-1] + part
                continue
            out.append(part)
    return tuple(out)


def key(toks: list[str] | tuple[str, ...]) -> str:
    """Order-sensitive lookup key."""
    return " ".join(toks)


def bag_key(toks: list[str] | tuple[str, ...]) -> str:
    """Order-free lookup key ("kidney epithelial cell" == "epithelial cell of kidney")."""
    return " ".join(sorted(set(toks) - STOP_WORDS))


def plain(text: str) -> str:
    """Case- and whitespace-insensitive form used for the exact label/synonym match."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def strip_brackets(text: str) -> tuple[str, list[str]]:
    """Split "alveolar type 2 cell (AT2)" into ("alveolar type 2 cell", ["AT2"])."""
    inside = re.findall(r"[(\[]([^()\[\]]*)[)\]]", text)
    outside = re.sub(r"[(\[][^()\[\]]*[)\]]", " ", text)
    outside = re.sub(r"[()\[\]]", " ", outside)
    return " ".join(outside.split()), [part.strip() for part in inside if part.strip()]
