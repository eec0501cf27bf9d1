"""Unification agent: groups the cell type names that n runs gave for one cluster into synonyms.

The model sees the distinct names and returns groups of names that denote the same cell type,
each with a canonical name (:class:`UnificationOutput`). Its answer is checked before use: every
member and every canonical name must be one of the names it was given (compared ignoring case
and spacing); an invented label, or a name put in two groups, rejects the whole answer and the
caller falls back to the ontology unification (CS_CL) for that cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from ..models import Message, with_example
from ..ontology.compare import text_key
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession

__all__ = ["NameGroup", "Unification", "UnificationOutput", "check_unification", "unify_names"]




class NameGroup(BaseModel):
    canonical: str = Field(description="The name every member is replaced by; copied exactly from the given names.")
    members: list[str] = Field(description="Given names that denote the same cell type, copied exactly.")


class UnificationOutput(BaseModel):
    """Groups of synonymous cell type names."""

    model_config = with_example(groups=[{"canonical": "CD8-positive, alpha-beta T cell",
                                      "members": ["CD8+ T cells", "CD8-positive, alpha-beta T cell"]}])
    groups: list[NameGroup] = Field(description="One entry per set of synonyms; names without synonyms may be left out.")


@dataclass
class Unification:
    """The checked result: original name -> canonical name (names not listed map to themselves)."""

    mapping: dict[str, str] = field(default_factory=dict)
    accepted: bool = True
    note: str = ""
    groups: list[dict[str, Any]] = field(default_factory=list)

    def canonical(self, name: str | None) -> str | None:
        return None if name is None else self.mapping.get(name, name)


def check_unification(output: UnificationOutput, names: list[str]) -> Unification:
    """Accept the groups only if they use nothing but the given names, each in one group at most."""
    given = {text_key(n): n for n in names}
    invented: list[str] = []
    mapping: dict[str, str] = {}
    clashes: list[str] = []
    groups = []
    for group in output.groups:
        canonical = given.get(text_key(group.canonical))
        if canonical is None:
            invented.append(group.canonical)
        found = []
        for member in [group.canonical, *group.members]:
            original = given.get(text_key(member))
            if original is None:
                invented.append(member)
                continue
            found.append(original)
            if canonical is None:
                continue
            previous = mapping.get(original)
            if previous is not None and previous != canonical:
                clashes.append(original)
            mapping[original] = canonical
        groups.append({"canonical": canonical or group.canonical, "members": sorted(set(found))})
    if invented:
        unique = sorted({str(x) for x in invented})
        return Unification(accepted=False, groups=groups,
                           note="unification rejected: names not given by any run: " + "; ".join(unique))
    if clashes:
        return Unification(accepted=False, groups=groups,
                           note="unification rejected: names put in two groups: " + "; ".join(sorted(set(clashes))))
    return Unification(mapping=mapping, accepted=True, groups=groups)


async def unify_names(session: ClusterSession, provider: Provider, names: list[str]) -> Unification:
    """Ask ``provider`` to group ``names`` (distinct, as the runs spelled them), then check the answer."""
    prompt = render("unify_user.j2", names=names, species=session.species,
                    tissue=None if session.tissue_blind else session.tissue)
    completion = await session.call(
        provider, stage="unification", task="unification", schema=UnificationOutput,
        system=render("unify_system.j2"), messages=[Message(role="user", content=prompt)],
        context=session.context(names=list(names)),
    )
    return check_unification(completion.parsed, names)
