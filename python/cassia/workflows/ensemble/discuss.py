"""The second stage: clusters without a clear consensus are discussed, then arbitrated.

A cluster whose consensus proportion is below the threshold goes to up to ``rounds`` rounds of
deliberation. In a round every model that voted reads the others' answers and reasoning and
answers again, all models of the round at once; the discussion stops as soon as the answers
reach the threshold. The offline annotator cannot argue and keeps its answer; a model whose
deliberation call fails keeps its previous answer (both noted). Still no consensus: the arbiter
writes one with its reasons, and the code notes when it chose a type no model proposed. A
failing arbiter leaves the majority answer, marked unresolved. Agreed clusters cost no call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Sequence

from ... import ontology
from ...agents.arbiter import arbitrate
from ...agents.deliberation import Opinion, annotator_name, deliberate
from ...agents.session import ClusterSession
from ...errors import CassiaError, redact
from ...models import StageInfo
from ...ontology.compare import cl_key, is_no_call
from ...store import RunStore
from .result import ArbiterRecord, ClusterEnsemble, DiscussionRound, ModelAnswer, ModelVote
from .spec import ModelSpec
from .vote import Tally, tally

__all__ = ["Panel", "RunUsage", "decide_cluster"]


@dataclass(frozen=True)
class RunUsage:
    """What a model's run spent on one cluster."""

    tokens: int = 0
    cost_usd: float | None = 0.0


@dataclass
class Panel:
    """The ensemble's members, their arbiter, and the rules of the discussion."""

    members: Sequence[ModelSpec]
    arbiter: ModelSpec | None
    threshold: float
    rounds: int
    species: str = "human"
    tissue: str | None = None

    def name(self, label: str) -> str:
        return annotator_name([m.label for m in self.members].index(label))

    def reached(self, t: Tally) -> bool:
        return t.proportion is not None and t.proportion >= self.threshold - 1e-9


def _opinion(panel: Panel, label: str, answer: ModelAnswer) -> Opinion:
    return Opinion(name=panel.name(label), general=answer.general, detailed=answer.detailed,
                   reasoning=answer.reasoning)


async def _speak(panel: Panel, session: ClusterSession, member: ModelSpec, current: dict[str, ModelAnswer],
                 number: int) -> tuple[ModelAnswer, bool]:
    """One model's answer in round ``number``; the bool says whether a call was made."""
    previous = current[member.label]
    if member.offline:
        return previous.model_copy(update={"note": "kept: the offline annotator does not deliberate"}), False
    others = [_opinion(panel, label, a) for label, a in current.items() if label != member.label and a.votes]
    try:
        out = await deliberate(session, member.provider, stage=f"deliberation:{member.label}",
                               own=_opinion(panel, member.label, previous), others=others,
                               round_number=number, rounds=panel.rounds)
    except CassiaError as err:
        reason = redact(f"{type(err).__name__}: {err}")
        return previous.model_copy(update={"note": f"kept: the deliberation call failed ({reason})"}), True
    general = out.general_type.strip() or None
    detailed = (out.detailed_type or "").strip() or None
    if is_no_call(general):
        return ModelAnswer(general=general, reasoning=out.reasoning, status="no call",
                           note="gave no call in the discussion"), True
    return ModelAnswer(general=general, detailed=None if is_no_call(detailed) else detailed,
                       reasoning=out.reasoning), True


def _usage(stage: StageInfo | None) -> RunUsage:
    return RunUsage() if stage is None else RunUsage(stage.usage.total, stage.cost_usd)


def _add(*parts: RunUsage) -> RunUsage:
    cost: float | None = 0.0
    for part in parts:
        cost = None if cost is None or part.cost_usd is None else cost + part.cost_usd
    return RunUsage(sum(p.tokens for p in parts), cost)


async def _arbitrate(panel: Panel, session: ClusterSession, current: dict[str, ModelAnswer],
                     proposed: set[str], notes: list[str]) -> ArbiterRecord | None:
    if panel.arbiter is None:
        notes.append("no arbiter: every model is the offline annotator")
        return None
    opinions = [_opinion(panel, label, a) for label, a in current.items() if a.votes]
    try:
        out = await arbitrate(session, panel.arbiter.provider, opinions, rounds=panel.rounds)
    except CassiaError as err:
        reason = redact(f"{type(err).__name__}: {err}")
        notes.append(f"the arbiter failed ({reason}); the majority answer is kept, unresolved")
        return ArbiterRecord(model=panel.arbiter.label, status="failed", error=reason)
    general = out.general_type.strip() or None
    detailed = (out.detailed_type or "").strip() or None
    if is_no_call(general):
        notes.append("the arbiter gave no call; the majority answer is kept, unresolved")
        return ArbiterRecord(model=panel.arbiter.label, status="failed", general=general,
                             reasoning=out.reasoning, error="no call")
    named = cl_key(general) in proposed
    if not named:
        notes.append(f"the arbiter chose {general!r}, a type no model proposed")
    return ArbiterRecord(model=panel.arbiter.label, status="ok", general=general,
                         detailed=None if is_no_call(detailed) else detailed, reasoning=out.reasoning,
                         proposed_by_a_model=named)


async def decide_cluster(panel: Panel, cluster: str, markers: Sequence[str], initial: dict[str, ModelAnswer],
                         usage: dict[str, RunUsage], *, store: RunStore | None,
                         notes: Sequence[str] = ()) -> ClusterEnsemble:
    """Vote, discuss when the models disagree, arbitrate when they still do: one cluster's record."""
    total = len(panel.members)
    notes = list(notes)
    first = tally(initial, total)
    session = ClusterSession(cluster=cluster, markers=list(markers), species=panel.species, tissue=panel.tissue,
                             store=store)
    current = dict(initial)
    rounds: list[DiscussionRound] = []
    arbiter: ArbiterRecord | None = None
    final = first
    if first.answered == 0:
        status = "no vote"
        notes.append("no model gave a vote")
    elif panel.reached(first):
        status = "agreed"
    elif first.unanimous:  # missing votes keep the proportion down; nobody to argue with
        status = "agreed"
        notes.append(f"only {first.answered} of {total} models voted; they agree")
    else:
        status = "unresolved"
        proposed = {cl_key(a.general) for a in initial.values() if a.votes}
        for number in range(1, panel.rounds + 1):
            speakers = [m for m in panel.members if current[m.label].votes]
            spoken = await asyncio.gather(*(_speak(panel, session, m, current, number) for m in speakers))
            for member, (answer, _) in zip(speakers, spoken):
                current[member.label] = answer
                if answer.note and answer.note.startswith("kept: the deliberation call failed"):
                    notes.append(f"round {number}: {member.label}'s deliberation call failed; its previous "
                                 "answer stands")
            final = tally(current, total)
            rounds.append(DiscussionRound(round=number, answers={m.label: a for m, (a, _) in zip(speakers, spoken)},
                                          consensus_proportion=final.proportion,
                                          calls=sum(called for _, called in spoken)))
            proposed |= {cl_key(a.general) for a in current.values() if a.votes}
            if panel.reached(final):
                status = "deliberated"
                break
        if status != "deliberated":
            arbiter = await _arbitrate(panel, session, current, proposed, notes)
            status = "arbitrated" if arbiter is not None and arbiter.status == "ok" else "unresolved"
    general, detailed, cl_id = final.general, final.detailed, final.cell_ontology_id
    if status == "arbitrated":
        general, detailed = arbiter.general, arbiter.detailed
        cl_id = ontology.first_cl_id([n for n in (detailed, general) if n])
    votes = []
    for member in panel.members:
        spent = _add(usage.get(member.label, RunUsage()), _usage(session.stages.get(f"deliberation:{member.label}")))
        votes.append(ModelVote(model=member.label, initial=initial[member.label], final=current[member.label],
                               tokens=spent.tokens, cost_usd=spent.cost_usd))
    whole = _add(*(RunUsage(v.tokens, v.cost_usd) for v in votes), _usage(session.stages.get("arbiter")))
    return ClusterEnsemble(
        cluster=cluster, status="failed" if status == "no vote" else "ok", ensemble_status=status,
        general=general, detailed=detailed, cell_ontology_id=cl_id, consensus_proportion=final.proportion,
        entropy=final.entropy, cs=final.cs, answered=final.answered, initial_proportion=first.proportion,
        rounds=rounds, deliberation_calls=sum(r.calls for r in rounds), arbiter=arbiter, votes=votes,
        markers=list(markers), notes=notes, tokens=whole.tokens, cost_usd=whole.cost_usd,
    )
