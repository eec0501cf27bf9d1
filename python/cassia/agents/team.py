"""One cluster through the team: Annotator ⇄ Validator (≤ N rounds) → Formatter → [Scorer]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from .. import ontology
from ..errors import AuthError, CassiaError
from ..models import ClusterResult, DiagnosisOutput, FormatterOutput, Message, ScorerOutput, ValidationRound
from ..providers.base import Provider
from . import annotator, formatter, scorer, validator
from .boost import boost_findings
from .checks import unsupported
from .session import ClusterSession


S = TypeVar("S", FormatterOutput, DiagnosisOutput)


@dataclass(frozen=True)
class Team:
    """Which backend answers each stage."""

    annotator: Provider
    validator: Provider
    formatter: Provider
    scorer: Provider | None = None


async def annotate_cluster(
    session: ClusterSession, team: Team, *, validator_rounds: int = 3, check_ontology: bool = True
) -> ClusterResult:
    conversation: list[Message] = [annotator.first_message(session)]
    rounds: list[ValidationRound] = []
    for number in range(1, max(1, validator_rounds) + 1):
        text = await annotator.annotate(session, team.annotator, conversation)
        review = await validator.validate(session, team.validator, text, number, check_ontology=check_ontology)
        rounds.append(review)
        if review.passed:
            break
        if number < validator_rounds:
            conversation.append(annotator.revision_message(review.reasons, review.llm.feedback if review.llm else ""))
    passed = bool(rounds and rounds[-1].passed)
    structured = await formatter.format_annotation(session, team.formatter, conversation, rounds, passed=passed)
    structured, notes = checked_key_markers(structured, session)
    result = ClusterResult(
        cluster=session.cluster, status="ok", markers=list(session.markers),
        tissue=session.tissue, species=session.species,
        annotation=structured if passed else None, diagnosis=None if passed else structured,
        validated=passed, iterations=len(rounds), validation=rounds,
        conversation=[Message(role="system", content=annotator.system_prompt(session)), *conversation],
        cell_ontology_id=ontology.first_cl_id(structured.sub_cell_types[:1] + [structured.main_cell_type]),
        notes=notes,
    )
    if team.scorer is not None:
        try:
            result.score = await score_result(session, team.scorer, result)
        except AuthError:
            raise
        except CassiaError as err:  # keep the annotation; run_score_batch can score it later
            result.error = f"scoring failed: {type(err).__name__}: {err}"
    result.stages = dict(session.stages)
    return result


def checked_key_markers(structured: S, session: ClusterSession) -> tuple[S, list[str]]:
    """The structured answer without key markers the cluster's input lacks, and a note naming them.

    The validated reasoning is the source of truth: a key marker it never cited, and that the
    input does not hold, is the Formatter's invention and is dropped rather than shown as evidence.
    """
    dropped = unsupported(structured.key_markers, [*session.markers, *session.table_genes])
    if not dropped:
        return structured, []
    kept = [g for g in structured.key_markers if g not in dropped]
    note = f"Key markers not in the cluster's input were dropped from the answer: {', '.join(dropped)}."
    return structured.model_copy(update={"key_markers": kept}), [note]


async def score_result(session: ClusterSession, provider: Provider, result: ClusterResult) -> ScorerOutput:
    """Score a result from its whole conversation (plus what Annotation Boost found, when boosted)."""
    conversation = [m for m in result.conversation if m.role != "system"]
    findings = boost_findings(result)
    if findings is not None:
        conversation.append(findings)
    return await scorer.score(session, provider, conversation, result.annotation or result.diagnosis)
