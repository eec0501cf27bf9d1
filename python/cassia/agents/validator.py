"""The review: one structured call gives the model's verdict and the record, then code checks both.

A cluster that passes first time costs two calls (annotate, review): the reviewer model judges
whether the markers support the named type and, in the same answer, records the annotation's
conclusions (:class:`~cassia.models.ReviewOutput`). Before the record is accepted the code
(:mod:`.checks`) reads every gene the reasoning asserts and every gene the record's names assert,
against the cluster's input and its full table: one that is not there fails the round whatever
the model said. A name the Cell Ontology does not know gets a note (:func:`.checks.name_note`),
not a rejection. Key markers the input lacks are dropped by :func:`.formatter.accepted_record`.
"""

from __future__ import annotations

from ..models import Message, ReviewOutput, ValidationRound
from ..prompts import render
from ..providers.base import Provider
from .checks import check_answer, name_note
from .session import ClusterSession


def prompts(session: ClusterSession, annotation: str) -> tuple[str, str]:
    """(system, user) of the review call: the static instructions first, so providers cache that
    prefix across clusters, then the cluster's data and the annotation, sent once."""
    return render("review_system.j2"), render("review_user.j2", species=session.species,
                                              tissue=None if session.tissue_blind else session.tissue,
                                              markers=session.markers, annotation=annotation)


async def review(session: ClusterSession, provider: Provider, annotation: str) -> ReviewOutput:
    """The reviewer's verdict and record of one annotation attempt (a malformed record is repaired
    once by the structured-output layer, then fails the cluster)."""
    system, prompt = prompts(session, annotation)
    completion = await session.call(
        provider, stage="review", task="review", schema=ReviewOutput,
        system=system, messages=[Message(role="user", content=prompt)],
        context=session.context(annotation=annotation),
    )
    return completion.parsed


def judge(round_number: int, review: ReviewOutput, annotation: str, *, markers: list[str],
          table_genes: tuple[str, ...] | list[str] = (), species: str = "human",
          check_ontology: bool = True) -> ValidationRound:
    """The round's verdict: the code's checks on the reasoning and on the record's names
    (:func:`.checks.check_answer`), plus the model's consistency judgement. A name outside the
    Cell Ontology is a note, never a reason to send a marker-supported answer back."""
    check = check_answer(annotation, markers=markers, table_genes=table_genes, species=species)
    record = review.record()
    names = check_answer("; ".join([record.main_cell_type, *record.sub_cell_types, *record.mixed_cell_types]),
                         markers=markers, table_genes=table_genes, species=species)
    reasons = list(check.reasons)
    named = [g for g in names.invented if g not in check.invented]
    if named:
        reasons.append("The recorded cell-type names cite genes that are not in the cluster's marker list: "
                       + ", ".join(named) + ". Name the type by markers the cluster has.")
    if not review.consistent:
        reasons.append("The markers do not support the proposed cell type: " + ("; ".join(review.concerns) or review.feedback))
    note = name_note(record.main_cell_type, species=species) if check_ontology else None
    return ValidationRound(
        round=round_number, passed=not reasons, invented_genes=[*check.invented, *named],
        unknown_cell_type=note is not None, llm=review.verdict(check.cited), reasons=reasons,
        notes=[note] if note else [],
    )
