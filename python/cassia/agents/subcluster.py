"""Subclustering agent: all subclusters of one population annotated side by side.

Related states (naive, memory, effector, exhausted T cells; macrophage states) differ in a
handful of genes, so they are judged together in one structured call per group
(:class:`SubclusterOutput`), not one at a time. Subclusters a reply leaves out are asked for
again (:func:`annotate_group`); when a population was split into several groups, a final pass
(:func:`harmonise`) makes the labels of all groups use one vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from ..models import Message, with_example
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession


class SubclusterCall(BaseModel):
    cluster: str = Field(description="The subcluster ID exactly as given in the request.")
    main_cell_type: str = Field(description="The general cell type of the subcluster.")
    sub_cell_type: str = Field(description="The most specific subtype or state the markers support.")
    key_markers: list[str] = Field(description="Markers that set this subcluster apart from its siblings.")
    reasoning: str = Field(description="Why, in two or three sentences, compared with the other subclusters.")


class SubclusterOutput(BaseModel):
    """Annotations of the subclusters in one request."""

    model_config = with_example(
        comparison="Subcluster 0 is naive-like (CCR7, SELL); the others are effector-like.",
        subclusters=[{"cluster": "0", "main_cell_type": "CD8-positive, alpha-beta T cell",
                      "sub_cell_type": "naive CD8-positive, alpha-beta T cell", "key_markers": ["CCR7", "SELL"],
                      "reasoning": "CCR7 and SELL are high and effector genes are low, unlike the siblings."}],
    )
    comparison: str = Field(description="How the subclusters differ from one another, briefly.")
    subclusters: list[SubclusterCall] = Field(description="One entry per subcluster in the request.")


class HarmonisedLabel(BaseModel):
    cluster: str = Field(description="The subcluster ID exactly as given.")
    main_cell_type: str
    sub_cell_type: str
    note: str = Field(description="What changed and why; an empty string when the label stays.")


class SubclusterConsistencyOutput(BaseModel):
    """Labels of every subcluster after making the groups' vocabularies agree."""

    model_config = with_example(labels=[{"cluster": "0", "main_cell_type": "CD8-positive, alpha-beta T cell",
                                     "sub_cell_type": "naive CD8-positive, alpha-beta T cell", "note": ""}])
    labels: list[HarmonisedLabel]


@dataclass
class GroupOutcome:
    """What one group's calls produced: answers by subcluster, attempts, notes and messages."""

    answers: dict[str, SubclusterCall] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    comparison: list[str] = field(default_factory=list)
    prompts: dict[str, Message] = field(default_factory=dict)  # the request each answer came from
    unknown: list[str] = field(default_factory=list)  # IDs a reply invented
    error: str | None = None  # the group's call failed outright


def _key(name: str) -> str:
    text = str(name).strip().lower()
    return re.sub(r"^(sub)?cluster[\s_:#-]*", "", text) or text


def _lookup(wanted: list[str]):
    """Name -> requested ID: exact first, then a loose key when it is unambiguous."""
    exact = {str(c).strip(): c for c in wanted}
    keys: dict[str, list[str]] = {}
    for c in wanted:
        keys.setdefault(_key(c), []).append(c)

    def find(name: str) -> str | None:
        if str(name).strip() in exact:
            return exact[str(name).strip()]
        options = keys.get(_key(name), [])
        return options[0] if len(options) == 1 else None

    return find


def match_answers(reply: SubclusterOutput, wanted: list[str]) -> tuple[dict[str, SubclusterCall], list[str]]:
    """Answers keyed by the requested IDs (case, spaces and a "cluster" prefix forgiven) and IDs
    the reply named that were not asked for. The first answer for an ID wins."""
    lookup = _lookup(wanted)
    found: dict[str, SubclusterCall] = {}
    unknown = []
    for call in reply.subclusters:
        cluster = lookup(call.cluster)
        if cluster is None:
            unknown.append(call.cluster)
        elif cluster not in found:
            found[cluster] = call.model_copy(update={"cluster": cluster})
    return found, unknown


def system_prompt() -> str:
    return render("subcluster_system.j2")


async def annotate_group(
    session: ClusterSession, provider: Provider, genes: dict[str, list[str]], *, population: str,
    group: int, groups: int, max_retries: int = 2,
) -> GroupOutcome:
    """Annotate one group; ask again (up to ``max_retries`` times) for subclusters left out."""
    outcome = GroupOutcome()
    missing = list(genes)
    system = system_prompt()
    for attempt in range(1, max_retries + 2):
        asked = {c: genes[c] for c in missing}
        prompt = Message(role="user", content=render(
            "subcluster_user.j2", population=population, species=session.species,
            tissue=None if session.tissue_blind else session.tissue, subclusters=asked,
            group=group, groups=groups, retry=attempt > 1, known=outcome.answers,
        ))
        completion = await session.call(
            provider, stage="subcluster", task="subcluster", schema=SubclusterOutput, system=system,
            messages=[prompt], context=session.context(population=population, subclusters=asked),
        )
        found, unknown = match_answers(completion.parsed, missing)
        outcome.comparison.append(completion.parsed.comparison)
        outcome.unknown.extend(unknown)
        for cluster in missing:
            outcome.attempts[cluster] = attempt
        for cluster, call in found.items():
            outcome.answers[cluster] = call
            outcome.prompts[cluster] = prompt
        missing = [c for c in missing if c not in found]
        if not missing:
            break
    return outcome


async def harmonise(
    session: ClusterSession, provider: Provider, answers: dict[str, SubclusterCall], *, population: str,
    groups: list[list[str]],
) -> dict[str, HarmonisedLabel]:
    """One pass over every group's labels so the same state gets the same name everywhere."""
    prompt = render("subcluster_consistency.j2", population=population, species=session.species,
                    groups=[[answers[c] for c in g if c in answers] for g in groups])
    completion = await session.call(
        provider, stage="consistency", task="subcluster", schema=SubclusterConsistencyOutput,
        system=system_prompt(), messages=[Message(role="user", content=prompt)],
        context=session.context(population=population, consistency=True),
    )
    lookup = _lookup(list(answers))
    labels: dict[str, HarmonisedLabel] = {}
    for label in completion.parsed.labels:
        cluster = lookup(label.cluster)
        if cluster is not None and cluster not in labels:
            labels[cluster] = label.model_copy(update={"cluster": cluster})
    return labels
