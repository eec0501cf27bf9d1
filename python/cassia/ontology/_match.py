"""Free text -> ranked Cell Ontology terms.

A name is turned into several *readings* (the name as written, without brackets, each
bracketed part, each part of "A / B", and the rewrites of ``_rules``), each with a confidence
factor. Every reading is looked up by key (normalised label or synonym, in order or as a bag
of words); the best readings are also scored against all labels and synonyms by IDF-weighted
token overlap ("fuzzy"), capped below the best key hit so rules always beat overlap.
A confidence is a fixed level for the kind of hit times the factors of the reading.
"""

from __future__ import annotations

import difflib
import heapq
import math
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from . import _rules
from ._terms import CellOntology, get_ontology
from ._text import STOP_WORDS, bag_key, key, plain, strip_brackets, tokens

# Confidence of a hit on each kind of index entry (before reading factors).
LEVEL_LABEL, LEVEL_SYNONYM, LEVEL_ACRONYM = 1.0, 0.97, 0.9
LEVEL_KEY, LEVEL_BAG, LEVEL_KEY_SYNONYM = 0.95, 0.93, 0.94
FUZZY_SCALE = 0.95  # confidence of a perfect token overlap (all words shared, nothing extra)
FUZZY_CAP = 0.95  # fuzzy hits stay below this share of the best key hit
PART_FACTOR = 0.9  # mapping one part of "A / B" says less than mapping the whole name
BRACKET_FACTOR = 0.98  # "X (abbreviation)" -> "X"
INSIDE_FACTOR = 0.85  # "X (Y)" -> "Y"
SPELLING_FACTOR = 0.92  # an unknown word replaced by a close ontology word
ORIGIN_FACTOR = 0.95  # "naive thymus-derived CD4-positive ..." also indexed without "thymus-derived"
WHOLE_OF_LIST_FACTOR = 0.9  # "A / B" read as one name
AMBIGUOUS_FACTOR = 0.9  # two unrelated terms share the normalised key
HEAD_MISS_FACTOR = 0.7  # fuzzy candidate lacks the query's head noun
COMPOUND_CREDIT = 0.7  # share of a word's weight earned when it ends a longer word
# Terms the ontology files for another species ("alpha retinal ganglion cell (Mmus)", synonym
# "alpha cell"): an everyday name means the general term first ("alpha cell" of the islets).
OTHER_SPECIES_FACTOR = 0.9
_OTHER_SPECIES = re.compile(r"\((Mmus|Mmul|Dmel|Drer)\)\s*$|, mouse\s*$")
# Words that distinguish little between terms in fuzzy scoring ("alpha-beta", "positive").
SOFT_WORDS = {"positive": 0.3, "alphabeta": 0.3, "human": 0.2, "mouse": 0.2,
              "mature": 0.4, "cell": 0.5}
_ORIGIN = re.compile(r"\b[\w-]+-derived\b", re.IGNORECASE)
_PART_SPLIT = re.compile(r"\s*(?:/|;|&|,|\bor\b|\band\b|\bvs\.?(?=\s))\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    cl_id: str
    confidence: float
    method: str


@dataclass(frozen=True)
class Reading:
    toks: tuple[str, ...]
    factor: float
    method: str  # "normalised", "abbreviation" or "fuzzy" (spelling-corrected)
    source: str = "whole"  # "whole", "outside"/"inside"/"combined" (brackets), "part" (of A / B)


class Index:
    """Normalised labels and synonyms of the live CL terms (built once, see :func:`get_index`)."""

    def __init__(self, onto: CellOntology):
        start = time.perf_counter()
        self.onto = onto
        self.plain: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        self.keys: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.entries: list[tuple[str, frozenset[str]]] = []  # (cl_id, token set) for fuzzy
        self.label_tokens: dict[str, frozenset[str]] = {}
        df: dict[str, set[str]] = defaultdict(set)
        for term in onto.terms.values():
            if term.deprecated or not term.label:
                continue
            names = [(term.label, True)] + [(s, False) for s in term.synonyms]
            species_cut = OTHER_SPECIES_FACTOR if _OTHER_SPECIES.search(term.label) else 1.0
            for name, is_label in names:
                acronym = not is_label and len(name) <= 5 and name.upper() == name
                level = LEVEL_LABEL if is_label else (LEVEL_ACRONYM if acronym else LEVEL_SYNONYM)
                level *= species_cut
                self.plain[plain(name)].append((term.cl_id, level, "exact" if is_label else "synonym"))
                outside, inside = strip_brackets(name)
                variants = [(name, 1.0)] + ([(outside, BRACKET_FACTOR)] if inside else [])
                no_origin = _ORIGIN.sub(" ", outside)
                if no_origin != outside:
                    variants.append((no_origin, ORIGIN_FACTOR))
                for text, cut in variants:
                    toks = tokens(text)
                    if not toks:
                        continue
                    seq_level = LEVEL_KEY if is_label else LEVEL_KEY_SYNONYM
                    self.keys["k:" + key(toks)].append((term.cl_id, seq_level * cut * species_cut))
                    self.keys["b:" + bag_key(toks)].append((term.cl_id, LEVEL_BAG * cut * species_cut))
                    self.entries.append((term.cl_id, frozenset(toks)))
                    if is_label and cut == 1.0:
                        self.label_tokens[term.cl_id] = frozenset(toks)
                    for tok in toks:
                        df[tok].add(term.cl_id)
        n_terms = len({cl_id for cl_id, _ in self.entries})
        self.idf = {t: math.log((n_terms + 1) / (len(ids) + 1)) + 0.1 for t, ids in df.items()}
        self.max_idf = max(self.idf.values())
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, (_, toks) in enumerate(self.entries):
            for tok in toks:
                self.postings[tok].append(i)
        self.vocab = sorted(self.idf)
        self.term_entries: dict[str, set[int]] = defaultdict(set)
        for i, (cl_id, _) in enumerate(self.entries):
            self.term_entries[cl_id].add(i)
        self.entry_weight = [sum(self.weight(t) for t in toks - STOP_WORDS) for _, toks in self.entries]
        self.build_seconds = time.perf_counter() - start

    def weight(self, tok: str) -> float:
        return self.idf.get(tok, self.max_idf) * SOFT_WORDS.get(tok, 1.0)

    @lru_cache(maxsize=4096)
    def correct(self, tok: str) -> str | None:
        """A close ontology word for an unknown word ("hematopoeitic"), or None."""
        if tok in self.idf or len(tok) < 5 or not tok.isalpha():
            return None
        pool = [w for w in self.vocab if w[0] == tok[0] and abs(len(w) - len(tok)) <= 2]
        close = difflib.get_close_matches(tok, pool, n=1, cutoff=0.9)
        return close[0] if close else None

    # -- lookups ---------------------------------------------------------------------------
    def exact(self, text: str) -> list[Hit]:
        return self._best(self.plain.get(plain(text), []), 1.0)

    def lookup(self, reading: Reading) -> list[Hit]:
        found = [(cl_id, lvl) for prefix, k in (("k:", key(reading.toks)), ("b:", bag_key(reading.toks)))
                 for cl_id, lvl in self.keys.get(prefix + k, [])]
        return self._best([(c, lvl, reading.method) for c, lvl in found], reading.factor)

    def fuzzy(self, reading: Reading, limit: int) -> list[Hit]:
        """Entries scored by IDF-weighted Dice overlap with the reading's words."""
        query = set(reading.toks) - STOP_WORDS
        informative = {t for t in query if t in self.postings and self.idf[t] > 1.0}
        if not informative:
            return []
        weights = {t: self.weight(t) for t in query}
        shared: dict[int, float] = defaultdict(float)
        matched: dict[str, set[int]] = {}
        for tok in query:
            if tok in informative or tok not in self.postings:
                direct = set(self.postings.get(tok, ()))
                compound = {i for w in self._compounds(tok) for i in self.postings[w]} - direct
                weight = weights[tok]
                for i in direct:
                    shared[i] += weight
                for i in compound:
                    shared[i] += COMPOUND_CREDIT * weight
                matched[tok] = direct | compound
        for tok in query.difference(matched):  # common words: only counted on candidates
            weight = weights[tok]
            for i in shared:
                if tok in self.entries[i][1]:
                    shared[i] += weight
        head = _head(reading.toks)
        q_weight = sum(weights.values())
        # Dice against the closest single name, or better: recall against that name plus the
        # label (people blend a label with a synonym: "alveolar type II pneumocyte") with the
        # precision of that name.
        best_entry: dict[str, tuple[float, int]] = {}
        for i, common in shared.items():
            cl_id = self.entries[i][0]
            dice = 2 * common / (q_weight + self.entry_weight[i])
            if cl_id not in best_entry or dice > best_entry[cl_id][0]:
                best_entry[cl_id] = (dice, i)
        scores: dict[str, float] = {}
        shortlist = heapq.nlargest(FUZZY_SHORTLIST, best_entry.items(), key=lambda kv: kv[1][0])
        for cl_id, (dice, i) in shortlist:
            names = self.label_tokens.get(cl_id, frozenset()) | self.entries[i][1]
            recall = sum(w * self._credit(t, names) for t, w in weights.items()) / q_weight
            precision = shared[i] / self.entry_weight[i] if self.entry_weight[i] else 0.0
            blended = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
            score = max(dice, blended)
            if head and head in matched and not (matched[head] & self.term_entries[cl_id]):
                score *= HEAD_MISS_FACTOR
            scores[cl_id] = score
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [Hit(c, FUZZY_SCALE * s * reading.factor, "fuzzy") for c, s in ranked]

    def _credit(self, word: str, names: frozenset[str]) -> float:
        if word in names:
            return 1.0
        return COMPOUND_CREDIT if any(w in names for w in self._compounds(word)) else 0.0

    @lru_cache(maxsize=4096)
    def _compounds(self, word: str) -> tuple[str, ...]:
        """Ontology words that end with ``word`` ("interneuron" for "neuron")."""
        if len(word) < 5:
            return ()
        return tuple(w for w in self.vocab if len(w) > len(word) and w.endswith(word)
                     and not w.startswith(_NEGATING_PREFIXES))

    @staticmethod
    def _best(found: list[tuple[str, float, str]], factor: float) -> list[Hit]:
        """One hit per term; terms tied at the top for the same key lose some confidence."""
        best: dict[str, Hit] = {}
        for cl_id, level, method in found:
            hit = Hit(cl_id, level * factor, method)
            if cl_id not in best or hit.confidence > best[cl_id].confidence:
                best[cl_id] = hit
        top = max((h.confidence for h in best.values()), default=0.0)
        if sum(h.confidence >= top - 1e-9 for h in best.values()) > 1:
            best = {c: Hit(c, h.confidence * AMBIGUOUS_FACTOR, h.method) for c, h in best.items()}
        return list(best.values())


def _head(toks: tuple[str, ...] | list[str]) -> str:
    """The last word that names the kind of cell ("fibroblast" in "alveolar fibroblast")."""
    for tok in reversed(toks):
        if tok not in STOP_WORDS and tok not in {"cell", "positive", "negative"} and not tok.isdigit():
            return tok
    return ""


_lock = threading.Lock()
_index: Index | None = None


def get_index() -> Index:
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = Index(get_ontology())
    return _index


# -- readings ------------------------------------------------------------------------------
MAX_READINGS = 160
MAX_PART_WORDS = 8
FUZZY_READINGS = 24  # the best-factor readings are also scored fuzzily
FUZZY_LIMIT = 8
FUZZY_SHORTLIST = 60  # terms (best Dice first) whose blended score is worked out
_EMPTY_WORDS = STOP_WORDS | {"cell"}
# "unswitched" is not a kind of "switched": no compound credit through a negation.
_NEGATING_PREFIXES = ("un", "non", "anti", "dis")
_LIST_SPLIT = re.compile(r"\s*(?:/|;|&|\bor\b|\band\b|\bvs\.?(?=\s))\s*", re.IGNORECASE)


def readings(index: Index, name: str) -> list[Reading]:
    """All readings of a name, best factor first; empty when the name is not a cell type."""
    if set(tokens(name)) & _rules.NOT_A_TYPE:
        return []
    outside, inside = strip_brackets(name)
    # Parts longer than a name are prose ("based on the markers, ...") and are not read.
    parts = _share_head([p.strip() for p in _PART_SPLIT.split(outside)
                         if p.strip() and len(p.split()) <= MAX_PART_WORDS])
    is_list = len(parts) > 1 and len([p for p in _LIST_SPLIT.split(outside) if p.strip()]) > 1
    seeds: list[tuple[str, float, str]] = [(name, WHOLE_OF_LIST_FACTOR if is_list else 1.0, "whole")]
    if inside:
        seeds.append((outside, BRACKET_FACTOR, "outside"))
        seeds.extend((part, INSIDE_FACTOR, "inside") for part in inside)
        # "epithelial cell (ciliated)" -> "ciliated epithelial cell"
        seeds.extend((f"{part} {outside}", BRACKET_FACTOR, "combined") for part in inside)
    if len(parts) > 1:
        # Earlier parts win ties: people list the main type first.
        seeds.extend((part, PART_FACTOR - 0.01 * i, "part") for i, part in enumerate(parts))
    found: dict[tuple[str, ...], Reading] = {}
    for text, factor, source in seeds:
        toks = tuple(tokens(text))
        if not toks:
            continue
        _add(found, Reading(toks, factor, "normalised", source))
        corrected = tuple(index.correct(t) or t for t in toks)
        if corrected != toks:
            _add(found, Reading(corrected, factor * SPELLING_FACTOR, "fuzzy", source))
    for rewrite, cost, is_abbreviation in _rules.REWRITES:
        for reading in list(found.values()):
            new = rewrite(reading.toks)
            # A rewrite that leaves only "cell" ("proliferating cells") has lost the type.
            if new and new != reading.toks and not set(new) <= _EMPTY_WORDS:
                method = reading.method
                if is_abbreviation and method == "normalised":
                    method = "abbreviation"
                _add(found, Reading(new, reading.factor * cost, method, reading.source))
    return sorted(found.values(), key=lambda r: (-r.factor, r.toks))[:MAX_READINGS]


def _share_head(parts: list[str]) -> list[str]:
    """"parietal and chief cell" -> ["parietal cell", "chief cell"]: the last head is shared."""
    ends_in_cell = re.compile(r"\bcells?$", re.IGNORECASE)
    if len(parts) < 2 or not ends_in_cell.search(parts[-1]):
        return parts
    return [p if ends_in_cell.search(p) else f"{p} cell" for p in parts[:-1]] + parts[-1:]


def _add(found: dict[tuple[str, ...], Reading], reading: Reading) -> None:
    old = found.get(reading.toks)
    if old is None or reading.factor > old.factor:
        found[reading.toks] = reading


def rank(name: str, *, top: int) -> list[Hit]:
    """Ranked hits for a free-text name (best first, one per term)."""
    index = get_index()
    text = " ".join(str(name).split())
    if not text:
        return []
    sourced: list[tuple[str, Hit]] = [("whole", h) for h in index.exact(text)]
    all_readings = readings(index, text)
    if not all_readings and not sourced:
        return []
    for reading in all_readings:
        sourced.extend((reading.source, h) for h in index.lookup(reading))
    # Fuzzy hits never outrank a lookup hit: a rule-based reading beats token overlap.
    best_lookup = max((h.confidence for _, h in sourced), default=0.0)
    cap = best_lookup * FUZZY_CAP if best_lookup else 1.0
    for reading in all_readings[:FUZZY_READINGS]:
        for hit in index.fuzzy(reading, limit=FUZZY_LIMIT):
            sourced.append((reading.source, Hit(hit.cl_id, min(hit.confidence, cap), hit.method)))
    ranked = _merge(h for _, h in sourced)
    specific = _bracket_refinement(index, sourced, ranked)
    if specific is not None:
        ranked = [specific] + [h for h in ranked if h.cl_id != specific.cl_id]
    return ranked[:top]


def _merge(hits) -> list[Hit]:
    merged: dict[str, Hit] = {}
    for hit in hits:
        if hit.cl_id not in merged or hit.confidence > merged[hit.cl_id].confidence:
            merged[hit.cl_id] = hit
    return sorted(merged.values(), key=lambda h: (-h.confidence, h.cl_id))


def _bracket_refinement(index: Index, sourced: list[tuple[str, Hit]], ranked: list[Hit]) -> Hit | None:
    """In "epithelial cell (goblet)" the bracket names a subtype of the outside: prefer it.

    Applies when, by rules rather than token overlap, the bracket and outside read together
    ("squamous epithelial cell" from "epithelial cell (squamous)") name a term, or the bracket
    alone names a strict descendant of the best hit. The subtype keeps the better confidence.
    """
    if not ranked:
        return None
    base = ranked[0]
    combined = _merge(h for src, h in sourced if src == "combined" and h.method != "fuzzy")
    if combined and combined[0].confidence >= 0.8 and combined[0].cl_id != base.cl_id:
        hit = combined[0]
        return Hit(hit.cl_id, max(hit.confidence, base.confidence * BRACKET_FACTOR), hit.method)
    specific = _merge(h for src, h in sourced if src == "inside" and h.method != "fuzzy")
    for hit in specific:
        if hit.confidence < 0.6:
            break
        if hit.cl_id != base.cl_id and base.cl_id in index.onto.terms[hit.cl_id].ancestors:
            return Hit(hit.cl_id, max(hit.confidence, base.confidence * BRACKET_FACTOR), hit.method)
    return None
