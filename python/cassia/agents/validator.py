"""Validator: deterministic hard checks, then the model's consistency judgement.

Hard checks need no trust in the model: code (:mod:`.checks`) reads every gene the annotation
asserts and sends the answer back when one is not in the cluster's input (or its full table).
The model's structured reading (:class:`~cassia.models.ValidatorOutput`) adds the named type and
the marker–type consistency verdict; its own list of cited genes is kept as its opinion. A name
the Cell Ontology does not know gets a note (:func:`.checks.name_note`), not a rejection.
"""

from __future__ import annotations

from ..models import Message, ValidationRound, ValidatorOutput
from ..prompts import render
from ..providers.base import Provider
from .checks import check_answer, name_note
from .session import ClusterSession


def judge(round_number: int, verdict: ValidatorOutput, annotation: str, *, markers: list[str],
          table_genes: tuple[str, ...] | list[str] = (), species: str = "human",
          check_ontology: bool = True) -> ValidationRound:
    """The round's verdict: the code's checks on the text (:func:`.checks.check_answer`) plus the
    model's consistency judgement. A name outside the Cell Ontology is a note, never a reason to
    send a marker-supported answer back."""
    check = check_answer(annotation, markers=markers, table_genes=table_genes, species=species)
    reasons = list(check.reasons)
    if not verdict.consistent:
        reasons.append("The markers do not support the proposed cell type: " + ("; ".join(verdict.concerns) or verdict.feedback))
    note = name_note(verdict.cell_type, species=species) if check_ontology else None
    return ValidationRound(
        round=round_number, passed=not reasons, invented_genes=check.invented,
        unknown_cell_type=note is not None, llm=verdict, reasons=reasons, notes=[note] if note else [],
    )


async def validate(
    session: ClusterSession, provider: Provider, annotation: str, round_number: int, *, check_ontology: bool = True
) -> ValidationRound:
    prompt = render("validator_user.j2", species=session.species,
                    tissue=None if session.tissue_blind else session.tissue,
                    markers=session.markers, annotation=annotation)
    completion = await session.call(
        provider, stage="validator", task="validator", schema=ValidatorOutput,
        system=render("validator_system.j2"), messages=[Message(role="user", content=prompt)],
        context=session.context(annotation=annotation),
    )
    return judge(round_number, completion.parsed, annotation, markers=session.markers,
                 table_genes=session.table_genes, species=session.species, check_ontology=check_ontology)
