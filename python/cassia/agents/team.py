"""One cluster through the team: Annotator ⇄ review (≤ N rounds) → [Scorer].

Each round is two calls: the Annotator's reasoning, then one structured review call that gives
the verdict and the record together (:mod:`.validator`); the code's checks run on both before
the record is accepted (:mod:`.formatter`). A failed round goes back to the Annotator with the
reasons and the reviewer's feedback.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ontology
from ..errors import AuthError, CassiaError
from ..models import ClusterResult, Message, ReviewOutput, ScorerOutput, ValidationRound
from ..providers.base import Provider
from . import annotator, scorer, validator
from .boost import boost_findings
from .formatter import accepted_record
from .session import ClusterSession


@dataclass(frozen=True)
class Team:
    """Which backend answers each stage."""

    annotator: Provider
    reviewer: Provider
    scorer: Provider | None = None


async def annotate_cluster(
    session: ClusterSession, team: Team, *, validator_rounds: int = 3, check_ontology: bool = True
) -> ClusterResult:
    conversation: list[Message] = [annotator.first_message(session)]
    rounds: list[ValidationRound] = []
    review: ReviewOutput | None = None
    for number in range(1, max(1, validator_rounds) + 1):
        text = await annotator.annotate(session, team.annotator, conversation)
        review = await validator.review(session, team.reviewer, text)
        verdict = validator.judge(number, review, text, markers=session.markers, table_genes=session.table_genes,
                                  species=session.species, check_ontology=check_ontology)
        rounds.append(verdict)
        if verdict.passed:
            break
        if number < validator_rounds:
            conversation.append(annotator.revision_message(verdict.reasons, review.feedback))
    assert review is not None
    passed = rounds[-1].passed
    record, notes = accepted_record(review, rounds, session, passed=passed)
    result = ClusterResult(
        cluster=session.cluster, status="ok", markers=list(session.markers),
        tissue=session.tissue, species=session.species,
        annotation=record if passed else None, diagnosis=None if passed else record,
        validated=passed, iterations=len(rounds), validation=rounds,
        conversation=[Message(role="system", content=annotator.system_prompt(session)), *conversation],
        cell_ontology_id=ontology.first_cl_id(record.sub_cell_types[:1] + [record.main_cell_type]),
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


async def score_result(session: ClusterSession, provider: Provider, result: ClusterResult) -> ScorerOutput:
    """Score a result from its whole conversation (plus what Annotation Boost found, when boosted)."""
    conversation = [m for m in result.conversation if m.role != "system"]
    findings = boost_findings(result)
    if findings is not None:
        conversation.append(findings)
    return await scorer.score(session, provider, conversation, result.annotation or result.diagnosis)
