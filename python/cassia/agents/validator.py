"""Validator: deterministic hard checks, then the model's consistency judgement.

Hard checks need no trust in the model: every gene cited as evidence must be in the input
marker list, and the named type must be a cell type the Cell Ontology knows. The model's
structured reading (:class:`~cassia.models.ValidatorOutput`) supplies the cited genes, the
named type and the marker–type consistency verdict.
"""

from __future__ import annotations

from ..models import Message, ValidationRound, ValidatorOutput
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession


def invented_genes(cited: list[str], markers: list[str]) -> list[str]:
    """Cited genes absent from the marker list (case-insensitive), in citation order, once each."""
    known = {g.upper() for g in markers}
    seen: set[str] = set()
    out = []
    for gene in cited:
        key = gene.strip().upper()
        if key and key not in known and key not in seen:
            seen.add(key)
            out.append(gene.strip())
    return out


def known_cell_type(name: str) -> bool:
    from .. import ontology

    return ontology.is_cell_type(name)


def judge(round_number: int, verdict: ValidatorOutput, markers: list[str], *, check_ontology: bool) -> ValidationRound:
    invented = invented_genes(verdict.cited_genes, markers)
    unknown = check_ontology and not known_cell_type(verdict.cell_type)
    reasons = []
    if invented:
        reasons.append(f"Cited genes that are not in the marker list: {', '.join(invented)}.")
    if unknown:
        reasons.append(f"'{verdict.cell_type}' is not a cell type the Cell Ontology recognises; use a standard cell type name.")
    if not verdict.consistent:
        reasons.append("The markers do not support the proposed cell type: " + ("; ".join(verdict.concerns) or verdict.feedback))
    return ValidationRound(
        round=round_number, passed=not reasons, invented_genes=invented,
        unknown_cell_type=unknown, llm=verdict, reasons=reasons,
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
    return judge(round_number, completion.parsed, session.markers, check_ontology=check_ontology)
