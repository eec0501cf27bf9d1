"""Which runs' answers count as agreement, and why the others do not.

Agreement is only evidence when the answers are real and independent. An answer is left out
of the CS (its reason kept in the vote's ``status``) when

- the run failed or has no answer for the cluster (``failed``, ``missing``);
- it never passed the Validator (``unvalidated``: the code's gene checks or the review failed);
- it names no cell type (``no call``: "Unknown", "unassigned", ...): runs agreeing that they
  cannot tell say nothing about the cluster;
- its reasoning and answer are word for word those of an earlier run (``repeat of run-k``):
  a deterministic backend or a cached replay answers the same every time, and n copies of one
  answer are one answer.

A CS needs :data:`MIN_INDEPENDENT` answers that count; with fewer it is not computed (NA, with
a note saying why), never 100.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ...ontology.compare import Answer, is_no_call

__all__ = ["MIN_INDEPENDENT", "counted_votes", "too_few_note"]

MIN_INDEPENDENT = 2


def _reason(answer: Answer, first_run: dict[str, str]) -> str | None:
    if answer.general is None:
        return answer.status if answer.status != "ok" else "missing"
    if not answer.validated:
        return "unvalidated"
    if is_no_call(answer.general):
        return "no call"
    if answer.fingerprint is not None and answer.fingerprint in first_run:
        return f"repeat of {first_run[answer.fingerprint]}"
    return None


def counted_votes(votes: Sequence[tuple[str, Answer]]) -> list[tuple[str, Answer, str | None]]:
    """Each vote with the answer as it counts: a vote that is no agreement gets ``general``
    None and its reason (the third element, None for a vote that counts)."""
    first_run: dict[str, str] = {}
    out = []
    for label, answer in votes:
        reason = _reason(answer, first_run)
        if reason is None and answer.fingerprint is not None:
            first_run[answer.fingerprint] = label
        counted = answer if reason is None else replace(answer, general=None, subtypes=(), status=reason)
        out.append((label, counted, reason))
    return out


def too_few_note(counted: Sequence[tuple[str, Answer, str | None]]) -> str:
    """Why a cluster has no CS: how many answers counted and what the others were."""
    independent = sum(reason is None for _, _, reason in counted)
    reasons: dict[str, int] = {}
    for _, _, reason in counted:
        if reason is not None:
            key = "repeated word for word" if reason.startswith("repeat of") else reason
            reasons[key] = reasons.get(key, 0) + 1
    left_out = ", ".join(f"{n} {why}" for why, n in reasons.items())
    return (f"CS not computed: it needs at least {MIN_INDEPENDENT} independent validated answers and "
            f"{independent} of {len(counted)} runs gave one" + (f" (left out: {left_out})" if left_out else "")
            + ("; a deterministic backend or cached runs repeat one answer, which is not agreement"
               if "repeated word for word" in reasons else ""))
