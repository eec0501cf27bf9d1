"""Annotation Boost: a hypothesis-driven loop over a cluster's full marker statistics.

Each turn the agent returns a structured :class:`BoostStep`: verdicts on what it has tested so
far, then either gene checks (one per hypothesis: the genes to look up and why) or a
conclusion in the Formatter's form. Checks are answered from the cluster's full table by
:mod:`.boost_stats`, never by a model; with only a processed ranked list (no statistics) the
prompts say so, and that genes outside the list cannot be checked (``BoostDetails.evidence``).
The conclusion passes the same hard checks as the Annotator's answer
(:func:`.checks.check_answer` on its summary and key markers, against the cluster's input and
table) or the boost fails, visibly, and the first answer is kept. The last allowed turn uses :class:`BoostFinal`, whose
schema has no room for more checks, so the loop always ends with an answer.

Breadth-first mode answers several hypotheses per turn; depth-first answers only the first
and asks the agent to follow one line of evidence at a time.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from .. import ontology
from ..errors import AuthError, InputError, ModelOutputError, ProviderError
from ..models import (
    BoostDetails,
    CheckedGene,
    ClusterResult,
    DiagnosisOutput,
    FormatterOutput,
    HypothesisRecord,
    Message,
    Mode,
    ScorerOutput,
    with_example,
)
from ..prompts import render
from ..providers.base import Provider
from ..report.boost import render_boost_page
from ..store import slug
from .boost_stats import GeneIndex
from .checks import check_answer, name_note
from .session import ClusterSession

MODES = ("breadth", "depth")
MAX_HYPOTHESES = 5  # per breadth-first turn
MAX_GENES_PER_CHECK = 15
PREVIOUS_REASONING_CHARS = 4000




# ---------------------------------------------------------------- what the agent returns


class GeneCheck(BaseModel):
    hypothesis: str = Field(description="The cell type or state this check tests.")
    genes: list[str] = Field(
        description=f"Gene symbols to look up in the cluster's full table (at most {MAX_GENES_PER_CHECK}).")
    rationale: str = Field(description="What these genes would show if the hypothesis were right.")


class Verdict(BaseModel):
    hypothesis: str = Field(description="A hypothesis tested earlier, named as it was named then.")
    verdict: Literal["supported", "refuted", "uncertain"]
    evidence: str = Field(description="The statistics that decided the verdict.")


class BoostConclusion(BaseModel):
    """The revised annotation (in the Formatter's form), how sure, why, and the answer to any question."""

    # no description beside this $ref: some strict schema validators refuse sibling keywords
    annotation: FormatterOutput
    confidence: Literal["high", "medium", "low"]
    summary: str = Field(description="Why this annotation, in a few sentences citing the checked genes.")
    answer: str = Field(description="The answer to the additional task; an empty string when there is none.")


_CONCLUSION_EXAMPLE = {
    "annotation": {"main_cell_type": "T cell", "sub_cell_types": ["CD8-positive, alpha-beta T cell"],
                   "mixed_cell_types": [], "key_markers": ["CD3E", "CD3D"]},
    "confidence": "high",
    "summary": "CD3E and CD3D are strongly enriched; CD4 is absent from the table.",
    "answer": "",
}


class BoostStep(BaseModel):
    """One turn: verdicts so far, then more gene checks or the conclusion."""

    model_config = with_example(reasoning="The first annotation holds up.", verdicts=[], action="conclude",
                            checks=[], conclusion=_CONCLUSION_EXAMPLE)
    reasoning: str = Field(description="Your reading of the evidence so far, briefly.")
    verdicts: list[Verdict] = Field(description="Verdicts on hypotheses whose genes you have now seen; may be empty.")
    action: Literal["check", "conclude"] = Field(description="'check' to look up more genes, 'conclude' to answer.")
    checks: list[GeneCheck] = Field(description="When action is 'check': one entry per hypothesis to test; else empty.")
    conclusion: BoostConclusion | None = Field(description="When action is 'conclude': the answer; else null.")

    @model_validator(mode="after")
    def _action_matches(self) -> "BoostStep":
        if self.action == "check" and not any(c.genes for c in self.checks):
            raise ValueError("action 'check' needs at least one check listing genes; "
                             "to stop, set action 'conclude' and fill in the conclusion")
        if self.action == "conclude" and self.conclusion is None:
            raise ValueError("action 'conclude' needs the conclusion object")
        return self


class BoostFinal(BaseModel):
    """The last allowed turn: no more checks, only the conclusion."""

    model_config = with_example(reasoning="The checks support the first annotation.", verdicts=[],
                            conclusion=_CONCLUSION_EXAMPLE)
    reasoning: str
    verdicts: list[Verdict]
    conclusion: BoostConclusion


# ---------------------------------------------------------------- the loop


def as_formatter(answer: FormatterOutput | DiagnosisOutput | None) -> FormatterOutput | None:
    if answer is None or type(answer) is FormatterOutput:
        return answer
    return FormatterOutput(main_cell_type=answer.main_cell_type, sub_cell_types=list(answer.sub_cell_types),
                           mixed_cell_types=list(answer.mixed_cell_types), key_markers=list(answer.key_markers))


def _last_reasoning(previous: ClusterResult) -> str:
    answers = [m.content for m in previous.conversation if m.role == "assistant"]
    text = answers[-1] if answers else ""
    return text if len(text) <= PREVIOUS_REASONING_CHARS else text[:PREVIOUS_REASONING_CHARS] + " [...]"


def _start_message(session: ClusterSession, previous: ClusterResult, *, table_size: int,
                   details: BoostDetails) -> Message:
    score: ScorerOutput | None = previous.score
    return Message(role="user", content=render(
        "boost_start.j2", species=session.species, tissue=None if session.tissue_blind else session.tissue,
        additional_info=session.additional_info, cluster=session.cluster, markers=session.markers,
        table_size=table_size, evidence=details.evidence,
        previous=as_formatter(previous.annotation or previous.diagnosis),
        diagnosis=previous.diagnosis, score=score, reasoning=_last_reasoning(previous),
        max_iterations=details.max_iterations, final=details.max_iterations == 1,
    ))


def _record_verdicts(details: BoostDetails, verdicts: list[Verdict], round_number: int) -> None:
    for verdict in verdicts:
        key = verdict.hypothesis.strip().lower()
        match = next((h for h in reversed(details.hypotheses) if h.hypothesis.strip().lower() == key), None)
        if match is None:  # judged without a formal check (e.g. the first annotation itself)
            match = HypothesisRecord(round=round_number, hypothesis=verdict.hypothesis)
            details.hypotheses.append(match)
        match.verdict, match.evidence = verdict.verdict, verdict.evidence


def _answer_checks(details: BoostDetails, index: GeneIndex, checks: list[GeneCheck], round_number: int) -> dict:
    """Look up the requested genes; return what the results template needs."""
    notes = []
    usable = [c for c in checks if c.genes]
    limit = 1 if details.mode == "depth" else MAX_HYPOTHESES
    if len(usable) > limit:
        skipped = [c.hypothesis for c in usable[limit:]]
        what = "one hypothesis" if limit == 1 else f"{limit} hypotheses"
        notes.append(f"Only {what} per turn can be checked in {details.mode}-first mode; "
                     f"not checked this turn: {'; '.join(skipped)}.")
        usable = usable[:limit]
    answered = []
    for check in usable:
        genes = check.genes
        if len(genes) > MAX_GENES_PER_CHECK:
            notes.append(f"'{check.hypothesis}': only the first {MAX_GENES_PER_CHECK} genes were looked up.")
            genes = genes[:MAX_GENES_PER_CHECK]
        stats = index.lookup_all(genes)
        details.hypotheses.append(HypothesisRecord(round=round_number, hypothesis=check.hypothesis,
                                                   genes=[s.query for s in stats], rationale=check.rationale))
        details.genes.extend(CheckedGene(round=round_number, hypothesis=check.hypothesis, **s.model_dump())
                             for s in stats)
        answered.append({"hypothesis": check.hypothesis, "lines": [s.describe(details.evidence) for s in stats]})
    return {"checks": answered, "notes": notes}


async def run_boost(
    session: ClusterSession, provider: Provider, index: GeneIndex, previous: ClusterResult, *,
    max_iterations: int = 5, mode: Mode = "breadth", additional_task: str | None = None,
) -> BoostDetails:
    """The loop itself. Model-output and provider failures end it gracefully (status "failed")."""
    details = BoostDetails(mode=mode, additional_task=additional_task or None, max_iterations=max_iterations,
                           original_annotation=as_formatter(previous.annotation or previous.diagnosis),
                           table_size=index.size, evidence=index.evidence)
    system = render("boost_system.j2", mode=mode, additional_task=details.additional_task, evidence=details.evidence,
                    max_hypotheses=MAX_HYPOTHESES, max_genes=MAX_GENES_PER_CHECK)
    conversation = [_start_message(session, previous, table_size=index.size, details=details)]
    try:
        for round_number in range(1, max_iterations + 1):
            final = round_number == max_iterations
            completion = await session.call(
                provider, stage="boost", task="boost", system=system, messages=list(conversation),
                schema=BoostFinal if final else BoostStep,
                context=session.context(boost_round=round_number, boost_mode=mode, final=final,
                                        additional_task=details.additional_task),
            )
            step = completion.parsed
            details.iterations = round_number
            reply = json.dumps(step.model_dump(mode="json"), ensure_ascii=False)
            conversation.append(Message(role="assistant", content=reply))
            _record_verdicts(details, step.verdicts, round_number)
            if final or step.action == "conclude":
                details.converged = not final
                _conclude(details, step.conclusion)
                break
            answered = _answer_checks(details, index, step.checks, round_number)
            conversation.append(Message(role="user", content=render(
                "boost_results.j2", round=round_number, left=max_iterations - round_number, evidence=details.evidence,
                final=round_number + 1 == max_iterations, **answered)))
    except AuthError:
        raise
    except (ModelOutputError, ProviderError) as err:
        details.status, details.error = "failed", f"{type(err).__name__}: {err}"
    details.conversation = [Message(role="system", content=system), *conversation]
    return details


def _conclude(details: BoostDetails, conclusion: BoostConclusion) -> None:
    revised = conclusion.annotation
    details.annotation = revised.model_copy(update={"sub_cell_types": revised.sub_cell_types[:3]})
    details.confidence, details.summary, details.answer = conclusion.confidence, conclusion.summary, conclusion.answer


async def boost_cluster(
    session: ClusterSession, provider: Provider, cluster_markers, previous_result: ClusterResult | None, *,
    max_iterations: int = 5, mode: Mode = "breadth", additional_task: str | None = None,
) -> ClusterResult:
    """Boost one cluster and return its result updated (or unchanged, with the failure noted).

    On success: ``boosted=True``, ``annotation`` = the revision, ``original_annotation`` = the
    answer before, ``boost`` = :class:`~cassia.models.BoostDetails`; when the session has a run
    store, the boost page is written and linked via ``pages``.
    """
    if mode not in MODES:
        raise InputError(f"mode must be 'breadth' (several hypotheses per turn) or 'depth' (one at a time), "
                         f"not {mode!r}.")
    if max_iterations < 1:
        raise InputError(f"max_iterations must be at least 1 (got {max_iterations}).")
    previous = previous_result or ClusterResult(cluster=session.cluster, status="ok", markers=list(session.markers),
                                                tissue=session.tissue, species=session.species)
    details = await run_boost(session, provider, GeneIndex(cluster_markers), previous,
                              max_iterations=max_iterations, mode=mode, additional_task=additional_task)
    notes = list(previous.notes)
    if details.status == "ok":
        notes += check_conclusion(details, session, cluster_markers)
    update: dict[str, Any] = {"stages": {**previous.stages, **session.stages}, "boost": details, "notes": notes}
    if details.status == "ok":
        names = details.annotation.sub_cell_types[:1] + [details.annotation.main_cell_type]
        update.update(boosted=True, annotation=details.annotation, original_annotation=details.original_annotation,
                      cell_ontology_id=ontology.first_cl_id(names) or previous.cell_ontology_id)
        details.original_cell_ontology_id = previous.cell_ontology_id
    else:
        update["error"] = "; ".join(e for e in (previous.error, f"boost failed: {details.error}") if e)
    if session.store is None:
        return previous.model_copy(update=update)
    update["pages"] = {**previous.pages, "Annotation Boost": f"boost/{slug(previous.cluster)}.html"}
    result = previous.model_copy(update=update)
    render_boost_page(session.store.run_dir, result)
    return result


def check_conclusion(details: BoostDetails, session: ClusterSession, cluster_markers) -> list[str]:
    """The code's checks on a boost's conclusion: every gene its summary asserts and every key
    marker must be in the cluster's input or table, or the boost fails (``details`` updated, the
    first answer kept). Returns the notes to keep: the Validator's advice on a name the Cell
    Ontology does not know, which never fails a boost."""
    revised = details.annotation
    check = check_answer(details.summary, markers=session.markers, species=session.species,
                         table_genes=cluster_markers.table_genes(), key_markers=revised.key_markers)
    if not check.passed:
        details.status = "failed"
        details.error = "the boosted conclusion did not pass the code's checks: " + " ".join(check.reasons)
        return []
    note = name_note(revised.main_cell_type, species=session.species or "human")
    return [f"Boost: {note}"] if note else []


def boost_findings(result: ClusterResult) -> Message | None:
    """What a boost found, as one message the Scorer reads after the first exchange."""
    details = result.boost
    if not result.boosted or details is None:
        return None
    return Message(role="assistant", content=render(
        "boost_rescore.j2", summary=details.summary, evidence=details.evidence,
        genes=[g.describe(details.evidence) for g in details.genes]))
