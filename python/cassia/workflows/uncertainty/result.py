"""What an uncertainty analysis produces: one :class:`ClusterUncertainty` per cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from ...agents.consensus import ConsensusOutput

__all__ = ["ClusterUncertainty", "RunVote", "UNCERTAINTY_COLUMNS", "UncertaintyResult"]

UNCERTAINTY_COLUMNS = [
    "Cluster ID", "Consensus General Type", "Consensus Subtype", "Consensus General CL ID",
    "Consensus Subtype CL ID", "CS_CL", "CS_LLM", "CS_agent", "CS", "Uncertain", "Recommend Boost",
    "General Agreement", "Subtype Agreement", "Runs Answered", "Agent General Type", "Agent Subtype",
    "Agent Reasoning", "Notes",
]  # then "Run k General", "Run k Subtype" for k = 1..n


class RunVote(BaseModel):
    """One run's answer for a cluster and how each unification read it."""

    run: str
    status: str
    general: str | None = None
    subtypes: list[str] = []
    general_cl: str | None = None  # ontology key: CL ID, or normalised text when unmapped
    subtype_cl: str | None = None
    general_llm: str | None = None  # canonical name after the unification agent
    subtype_llm: str | None = None
    points_cl: float | None = None  # this run's share of the maximum, 0-1
    points_llm: float | None = None

    @property
    def subtype(self) -> str | None:
        return self.subtypes[0] if self.subtypes else None


class ClusterUncertainty(BaseModel):
    """Consensus and CS scores of one cluster across the runs."""

    cluster: str
    votes: list[RunVote]
    answered: int
    consensus_general: str | None = None
    consensus_subtype: str | None = None
    consensus_general_cl: str | None = None
    consensus_subtype_cl: str | None = None
    general_agreement: float | None = None
    subtype_agreement: float | None = None
    cs_cl: float | None = None
    cs_llm: float | None = None
    cs_agent: float | None = None
    cs: float | None = None
    uncertain: bool = True
    recommend_boost: bool = True
    unification: dict[str, Any] | None = None  # {"accepted", "note", "groups"} when the agent ran
    agent: ConsensusOutput | None = None
    notes: list[str] = []


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class UncertaintyResult:
    """CS scores for every cluster, the runs they came from, and where they were written."""

    clusters: list[ClusterUncertainty]
    runs: list[Any] = field(default_factory=list)  # RunResult objects when the runs were made here
    out_dir: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def uncertain(self) -> list[str]:
        """Clusters whose final CS is below the threshold (recommended for Annotation Boost)."""
        return [c.cluster for c in self.clusters if c.uncertain]

    def to_frame(self) -> pd.DataFrame:
        """One row per cluster (columns in :data:`UNCERTAINTY_COLUMNS`, then each run's answer)."""
        n = max((len(c.votes) for c in self.clusters), default=0)
        run_columns = [f"Run {k} {part}" for k in range(1, n + 1) for part in ("General", "Subtype")]
        rows = []
        for c in self.clusters:
            row = {
                "Cluster ID": c.cluster,
                "Consensus General Type": c.consensus_general,
                "Consensus Subtype": c.consensus_subtype,
                "Consensus General CL ID": c.consensus_general_cl,
                "Consensus Subtype CL ID": c.consensus_subtype_cl,
                "CS_CL": _round(c.cs_cl),
                "CS_LLM": _round(c.cs_llm),
                "CS_agent": _round(c.cs_agent),
                "CS": _round(c.cs),
                "Uncertain": c.uncertain,
                "Recommend Boost": c.recommend_boost,
                "General Agreement": _round(c.general_agreement),
                "Subtype Agreement": _round(c.subtype_agreement),
                "Runs Answered": c.answered,
                "Agent General Type": c.agent.general_type if c.agent else None,
                "Agent Subtype": (c.agent.subtype or None) if c.agent else None,
                "Agent Reasoning": c.agent.reasoning if c.agent else None,
                "Notes": "; ".join(c.notes) or None,
            }
            for k, vote in enumerate(c.votes, start=1):
                row[f"Run {k} General"] = vote.general
                row[f"Run {k} Subtype"] = vote.subtype
            rows.append(row)
        frame = pd.DataFrame(rows, columns=UNCERTAINTY_COLUMNS + run_columns)
        frame["Cluster ID"] = frame["Cluster ID"].astype(str)
        for column in ("CS_CL", "CS_LLM", "CS_agent", "CS", "General Agreement", "Subtype Agreement"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame

    def __repr__(self) -> str:
        where = f"out_dir={str(self.out_dir)!r}, " if self.out_dir else ""
        return f"UncertaintyResult({where}clusters={len(self.clusters)}, uncertain={len(self.uncertain)})"
