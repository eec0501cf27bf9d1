"""The accepted record of a cluster: the review's record, after the code's checks.

The reviewer writes the record in the same call as its verdict (:mod:`.validator`). What the
code does to it before it is accepted: at most three subtypes; key markers the cluster's input
(and full table) lacks are dropped and said in a note; when review never passed, the record
becomes a :class:`~cassia.models.DiagnosisOutput` whose account of what went wrong comes from the
last round's reasons (the code's findings and the reviewer's concerns), with no extra call.
"""

from __future__ import annotations

from ..models import DiagnosisOutput, FormatterOutput, ReviewOutput, ValidationRound
from .checks import unsupported
from .session import ClusterSession

ADVICE = ("Rerun with more markers (the top 50 by fold change) and the tissue set, check the cluster for "
          "doublets or low-quality cells, or boost it (Annotation Boost).")


def accepted_record(review: ReviewOutput, rounds: list[ValidationRound], session: ClusterSession, *,
                    passed: bool) -> tuple[FormatterOutput | DiagnosisOutput, list[str]]:
    """The record to store for the cluster, and the notes the checks produced."""
    record = review.record()
    if not passed:
        last = rounds[-1]
        problems = " ".join(last.reasons) or "Review did not pass within the allowed rounds."
        record = DiagnosisOutput(
            **record.model_dump(),
            what_went_wrong=f"Not accepted after {len(rounds)} attempt(s). {problems}",
            what_to_do=" ".join(part for part in (review.feedback.strip(), ADVICE) if part),
        )
    return checked_key_markers(record, session)


def checked_key_markers(record, session: ClusterSession):
    """The record without key markers the cluster's input lacks, and a note naming them.

    The validated reasoning is the source of truth: a key marker the input does not hold is the
    reviewer's invention and is dropped rather than shown as evidence.
    """
    dropped = unsupported(record.key_markers, [*session.markers, *session.table_genes])
    if not dropped:
        return record, []
    kept = [g for g in record.key_markers if g not in dropped]
    note = f"Key markers not in the cluster's input were dropped from the answer: {', '.join(dropped)}."
    return record.model_copy(update={"key_markers": kept}), [note]
