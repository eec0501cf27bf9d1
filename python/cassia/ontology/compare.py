"""The consensus similarity (CS) score: how much n answers for one cluster agree, 0-100.

Each run answers a pair (general type ``g``, top subtype ``s``). Names are first turned into
comparison *keys* (:func:`cl_key`: the Cell Ontology ID when the name maps, else its normalised
text; or, for CS_LLM, the canonical name an LLM unification chose). Then, with weights
``w_g`` (general) and ``w_s`` (subtype) and the consensus pair ``(G, S)``::

    G = the most frequent general key, S = the most frequent subtype key
        (ties broken by first appearance, scanning the runs in order)

    general part of run i = w_g        if g_i == G
                          = w_g * w_s  if g_i == S   (swapped: the run's general is the consensus subtype)
                          = 0          otherwise
    subtype part of run i = w_s        if s_i == S
                          = w_g * w_s  if s_i == G   (swapped: the run's subtype is the consensus general)
                          = 0          otherwise

    CS = 100 * mean_i(general part + subtype part) / (w_g + w_s)

Runs without an answer for the cluster (failed) are left out of the mean. A run that gives a
general type but no subtype scores 0 for its subtype part. When *no* run names a subtype, ``S``
is None and a run's subtype part follows its general part (``w_s`` when ``g_i == G``, else 0):
CS is then the share of runs on the consensus general type. (Crediting every run with ``w_s``
there would lift two of three runs to 76.7, above the usual threshold of 75, for any pair that
agrees by chance.) With the default weights (0.7, 0.3): all runs agree -> 100; two of three
agree on the general type only -> 66.7; three runs all different -> 33.3 (only the first run
matches the consensus). How many independent answers a CS needs, and which answers count, is
the caller's rule (:mod:`cassia.workflows.uncertainty.votes`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from ..errors import InputError


@dataclass(frozen=True)
class Answer:
    """One run's answer for one cluster (``general`` None when the run has no answer)."""

    general: str | None
    subtypes: tuple[str, ...] = ()
    status: str = "ok"
    markers: tuple[str, ...] = ()
    validated: bool = True  # False: the answer never passed the Validator (a diagnosis)
    fingerprint: str | None = None  # hash of the reasoning and answer, when the run kept its reasoning

    @property
    def subtype(self) -> str | None:
        return self.subtypes[0] if self.subtypes else None


__all__ = [
    "Agreement", "Answer", "Weights", "cl_key", "consensus_proportion", "consensus_value", "display_name",
    "is_no_call", "similarity_score", "text_key", "vote_entropy",
]


@dataclass(frozen=True)
class Weights:
    """How much agreement on the general type and on the subtype count (general weighted more)."""

    general: float = 0.7
    subtype: float = 0.3

    def __post_init__(self) -> None:
        for name in ("general", "subtype"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise InputError(f"the {name} weight must be a number >= 0, got {value!r}.")
        if self.general + self.subtype <= 0:
            raise InputError("the general and subtype weights cannot both be 0; the defaults are 0.7 and 0.3.")

    @classmethod
    def of(cls, value: "Weights | Sequence[float] | dict") -> "Weights":
        """Accept ``Weights``, a ``(general, subtype)`` pair or ``{"general": .., "subtype": ..}``."""
        if isinstance(value, Weights):
            return value
        if isinstance(value, dict):
            return cls(**value)
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return cls(general=value[0], subtype=value[1])
        raise InputError(f"weights must be a (general, subtype) pair such as (0.7, 0.3), got {value!r}.")


@dataclass(frozen=True)
class Agreement:
    """CS and the consensus behind it, for one cluster and one way of unifying names."""

    general: str | None  # consensus general key (None when no run answered)
    subtype: str | None  # consensus subtype key (None when no run named a subtype)
    score: float | None  # CS, 0-100; None when no run answered
    per_run: tuple[float | None, ...]  # each run's points / (w_g + w_s); None for runs without an answer
    general_fraction: float | None  # share of answering runs whose general key == G
    subtype_fraction: float | None  # share whose subtype key == S; None when no run named a subtype
    answered: int


def text_key(name: object) -> str | None:
    """Case-, space- and trailing-punctuation-insensitive text of a name; None for blanks/NaN."""
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return None
    text = re.sub(r"\s+", " ", str(name)).strip().strip(".;:").strip().casefold()
    return text or None


@lru_cache(maxsize=8192)
def _cl_key(text: str) -> str:
    from .. import ontology

    match = ontology.map_name(text)
    # a compound without an informative common ancestor is the set of its parts; disease and
    # state qualifiers stay part of the key ("malignant epithelial cell" is not "epithelial cell")
    base = match.cl_id or ("+".join(sorted(p.cl_id for p in match.parts if p.cl_id)) if match.parts else None)
    if base is None:
        return text_key(text) or text
    return base + "".join(f"|{q}" for q in sorted(match.qualifiers))


def cl_key(name: object) -> str | None:
    """The Cell Ontology ID the name maps to (with its qualifiers, "CL:0000066|malignant"; a compound
    of unrelated parts as "CL:a+CL:b"), else its :func:`text_key` (unmapped names stay text)."""
    text = text_key(name)
    if text is None:
        return None
    return _cl_key(re.sub(r"\s+", " ", str(name)).strip())


def display_name(key: str | None, originals: Iterable[str] = ()) -> str | None:
    """A readable name for a key: the CL label for an ontology ID, else the first original spelling."""
    if key is None:
        return None
    if re.fullmatch(r"CL:\d{7}(\+CL:\d{7})*(\|[a-z]+)*", key):
        from .. import ontology

        terms, *qualifiers = key.split("|")
        labels = [ontology.label(t) for t in terms.split("+")]
        if all(labels):
            return " ".join(qualifiers + ["/".join(labels)])
    for original in originals:
        if text_key(original) == key:
            return str(original).strip()
    return key


def consensus_value(values: Sequence[str | None]) -> str | None:
    """The most frequent non-missing value; ties go to the value that appeared first."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    counts = Counter(present)
    first_seen = {v: present.index(v) for v in counts}
    return max(counts, key=lambda v: (counts[v], -first_seen[v]))


def similarity_score(pairs: Sequence[tuple[str | None, str | None]],
                     weights: Weights | Sequence[float] = (0.7, 0.3)) -> Agreement:
    """CS for one cluster from per-run ``(general key, subtype key)`` pairs (formula in the module doc).

    A pair whose general key is None is a run without an answer and is left out.
    """
    w = Weights.of(weights)
    answered = [(g, s) for g, s in pairs if g is not None]
    if not answered:
        return Agreement(None, None, None, tuple(None for _ in pairs), None, None, 0)
    big_g = consensus_value([g for g, _ in answered])
    big_s = consensus_value([s for _, s in answered])
    total = w.general + w.subtype
    swap = w.general * w.subtype
    per_run: list[float | None] = []
    for g, s in pairs:
        if g is None:
            per_run.append(None)
            continue
        general_part = w.general if g == big_g else (swap if big_s is not None and g == big_s else 0.0)
        if big_s is None:  # no run named a subtype: the subtype part follows the general part
            subtype_part = w.subtype if g == big_g else 0.0
        else:
            subtype_part = w.subtype if s == big_s else (swap if s is not None and s == big_g else 0.0)
        per_run.append((general_part + subtype_part) / total)
    points = [p for p in per_run if p is not None]
    general_fraction = sum(g == big_g for g, _ in answered) / len(answered)
    subtype_fraction = None if big_s is None else sum(s == big_s for _, s in answered) / len(answered)
    return Agreement(
        general=big_g, subtype=big_s, score=100.0 * sum(points) / len(points), per_run=tuple(per_run),
        general_fraction=general_fraction, subtype_fraction=subtype_fraction, answered=len(answered),
    )


# ---------------------------------------------------------------- agreement across models (ensembles)

# Names that say "no cell type": the one list every vote and the offline scorer use.
NO_CALL_NAMES = frozenset({"unknown", "unknown cell", "unknown cell type", "unassigned", "unclassified", "unclear",
                           "undetermined", "unresolved", "unidentified", "not determined", "ambiguous", "uncertain",
                           "none", "na", "n/a", "no call"})


def is_no_call(name: object, status: str = "ok") -> bool:
    """True when an answer is no vote: a failed or missing answer, a blank, or "Unknown" (and the like)."""
    if status != "ok":
        return True
    text = text_key(name)
    return text is None or re.sub(r"[\s_]+", " ", text) in NO_CALL_NAMES


def consensus_proportion(keys: Sequence[str | None], total: int | None = None) -> float | None:
    """Share of *all* voters (``total``, default ``len(keys)``) behind the most frequent key.

    A None key is a missing vote: it counts in the denominator, so a model that failed lowers
    the proportion (two of three models agreeing is 2/3 whether or not the third answered).
    None when there are no voters.
    """
    total = len(keys) if total is None else total
    if total <= 0:
        return None
    present = [k for k in keys if k is not None]
    if not present:
        return 0.0
    return Counter(present).most_common(1)[0][1] / total


def vote_entropy(keys: Sequence[str | None]) -> float | None:
    """Shannon entropy, in bits, of the votes cast (None keys left out): 0 when all agree,
    log2(k) for k different answers; None when nobody voted."""
    present = [k for k in keys if k is not None]
    if not present:
        return None
    n = len(present)
    value = -sum((c / n) * math.log2(c / n) for c in Counter(present).values())
    return abs(value)  # -0.0 for unanimity reads as 0.0
