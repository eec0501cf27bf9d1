"""What an ensemble produces: one :class:`ClusterEnsemble` per cluster, and the table of them all.

``ensemble.jsonl`` holds one ClusterEnsemble per line (the last line for a cluster wins);
``summary.csv`` is :meth:`EnsembleResult.to_frame`: the consensus columns, then each model's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import pandas as pd
from pydantic import BaseModel, ValidationError

from ...errors import InputError
from ...store import read_manifest
from ...writeback import write_labels

__all__ = ["ENSEMBLE_COLUMNS", "ENSEMBLE_LOG", "MODEL_COLUMNS", "ArbiterRecord", "ClusterEnsemble",
           "DiscussionRound", "EnsembleResult", "EnsembleStatus", "ModelAnswer", "ModelVote", "read_ensemble"]

ENSEMBLE_LOG = "ensemble.jsonl"
EnsembleStatus = Literal["agreed", "deliberated", "arbitrated", "unresolved", "no vote"]
ENSEMBLE_COLUMNS = [
    "Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type", "Cell Ontology ID", "Status",
    "Ensemble Status", "Consensus Proportion", "Entropy", "CS", "Models Answered", "Initial Consensus Proportion",
    "Rounds", "Deliberation Calls", "Arbiter Reasoning", "Notes", "Tokens", "Cost USD",
]
MODEL_COLUMNS = ["General", "Detailed", "Status", "Final General", "Final Detailed", "Tokens", "Cost USD"]


class ModelAnswer(BaseModel):
    """One model's answer for a cluster at one point (its run, or a discussion round).

    ``status``: ``ok`` (a vote), ``no call`` (Unknown or blank), ``failed`` (its run failed on the
    cluster, or died), ``timed out`` (its run did not finish in time), ``missing`` (its run did not
    reach the cluster).
    """

    general: str | None = None
    detailed: str | None = None
    reasoning: str = ""
    status: str = "ok"
    note: str | None = None  # e.g. "kept: offline annotator", "kept: the deliberation call failed (...)"

    @property
    def votes(self) -> bool:
        return self.status == "ok"

    def same_call(self, other: "ModelAnswer") -> bool:
        return (self.status, self.general, self.detailed) == (other.status, other.general, other.detailed)


class DiscussionRound(BaseModel):
    round: int
    answers: dict[str, ModelAnswer]  # by model label
    consensus_proportion: float | None = None
    calls: int = 0


class ArbiterRecord(BaseModel):
    model: str  # the arbiter's label ("arbiter" unless it is one of the members)
    status: Literal["ok", "failed"]
    general: str | None = None
    detailed: str | None = None
    reasoning: str = ""
    error: str | None = None
    proposed_by_a_model: bool = True  # False: the arbiter chose a type no model named (checked in code)


class ModelVote(BaseModel):
    """One model's part in a cluster: its first answer, its last, and what the cluster cost it."""

    model: str
    initial: ModelAnswer
    final: ModelAnswer
    tokens: int = 0
    cost_usd: float | None = 0.0


class ClusterEnsemble(BaseModel):
    """The ensemble's decision on one cluster: one line of ensemble.jsonl."""

    cluster: str
    status: Literal["ok", "failed"]
    ensemble_status: EnsembleStatus
    general: str | None = None
    detailed: str | None = None
    cell_ontology_id: str | None = None
    consensus_proportion: float | None = None
    entropy: float | None = None
    cs: float | None = None
    answered: int = 0
    initial_proportion: float | None = None
    rounds: list[DiscussionRound] = []
    deliberation_calls: int = 0
    arbiter: ArbiterRecord | None = None
    votes: list[ModelVote] = []
    markers: list[str] = []
    notes: list[str] = []
    tokens: int = 0
    cost_usd: float | None = 0.0

    def vote(self, label: str) -> ModelVote | None:
        return next((v for v in self.votes if v.model == label), None)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def read_ensemble(out_dir: str | Path) -> dict[str, ClusterEnsemble]:
    """Every decided cluster of an ensemble folder (the last record for a cluster wins).

    A line a crash cut short is skipped (its cluster is decided again on resume).
    """
    path = Path(out_dir) / ENSEMBLE_LOG
    records: dict[str, ClusterEnsemble] = {}
    if not path.exists():
        return records
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = ClusterEnsemble.model_validate_json(line)
            except (ValidationError, json.JSONDecodeError, ValueError):
                continue
            records[record.cluster] = record
    return records


@dataclass
class EnsembleResult:
    """The consensus of every cluster, the models' runs, and where it was written."""

    clusters: list[ClusterEnsemble]
    models: list[str]
    out_dir: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, Any] = field(default_factory=dict)  # label -> RunResult of that model's run

    def __iter__(self) -> Iterator[ClusterEnsemble]:
        return iter(self.clusters)

    @property
    def disputed(self) -> list[str]:
        """Clusters the models did not agree on at first (they went to deliberation)."""
        return [c.cluster for c in self.clusters if c.ensemble_status in ("deliberated", "arbitrated", "unresolved")]

    def to_frame(self) -> pd.DataFrame:
        """One row per cluster: :data:`ENSEMBLE_COLUMNS`, then ``<label> <part>`` for each model."""
        model_columns = [f"{label} {part}" for label in self.models for part in MODEL_COLUMNS]
        rows = []
        for c in self.clusters:
            row = {
                "Cluster ID": c.cluster, "Predicted General Cell Type": c.general,
                "Predicted Detailed Cell Type": c.detailed, "Cell Ontology ID": c.cell_ontology_id,
                "Status": c.status, "Ensemble Status": c.ensemble_status,
                "Consensus Proportion": _round(c.consensus_proportion), "Entropy": _round(c.entropy),
                "CS": _round(c.cs, 2), "Models Answered": c.answered,
                "Initial Consensus Proportion": _round(c.initial_proportion), "Rounds": len(c.rounds),
                "Deliberation Calls": c.deliberation_calls,
                "Arbiter Reasoning": c.arbiter.reasoning if c.arbiter and c.arbiter.status == "ok" else None,
                "Notes": "; ".join(c.notes) or None, "Tokens": c.tokens, "Cost USD": _round(c.cost_usd, 6),
            }
            for label in self.models:
                vote = c.vote(label)
                if vote is None:
                    continue
                row.update({
                    f"{label} General": vote.initial.general, f"{label} Detailed": vote.initial.detailed,
                    f"{label} Status": vote.initial.status, f"{label} Final General": vote.final.general,
                    f"{label} Final Detailed": vote.final.detailed, f"{label} Tokens": vote.tokens,
                    f"{label} Cost USD": _round(vote.cost_usd, 6),
                })
            rows.append(row)
        frame = pd.DataFrame(rows, columns=ENSEMBLE_COLUMNS + model_columns)
        frame["Cluster ID"] = frame["Cluster ID"].astype(str)
        return frame

    @classmethod
    def load(cls, out_dir: str | Path) -> "EnsembleResult":
        """An ensemble read back from its folder."""
        manifest = read_manifest(out_dir)
        if manifest.get("kind") != "ensemble":
            raise InputError(f"{out_dir} is not a CASSIA ensemble folder (no ensemble manifest.json); pass the "
                             "out_dir run_ensemble wrote")
        records = read_ensemble(out_dir)
        order = manifest.get("clusters") or list(records)
        return cls(clusters=[records[c] for c in order if c in records],
                   models=[m["label"] for m in manifest.get("models", [])], out_dir=Path(out_dir), manifest=manifest)

    def to_adata(self, adata: Any, *, groupby: str, key_added: str = "cassia_ensemble") -> dict[str, Any]:
        """Write the consensus into ``adata.obs`` (``{key}_general``, ``{key}_detailed``,
        ``{key}_ontology_id``, ``{key}_status``) and the ensemble's record into ``adata.uns[key]``.

        Clusters without a vote keep earlier labels and are named in a warning (as for a run).
        """
        frame = self.to_frame()
        record = {"run_dir": str(self.out_dir.resolve()) if self.out_dir else None, "kind": "ensemble",
                  "status": self.manifest.get("status"), "settings": self.manifest.get("settings"),
                  "models": self.manifest.get("models"), "counts": self.manifest.get("counts")}
        return write_labels(adata, frame, groupby=groupby, key=key_added, record=record)

    def __repr__(self) -> str:
        where = f"out_dir={str(self.out_dir)!r}, " if self.out_dir else ""
        return (f"EnsembleResult({where}models={self.models}, clusters={len(self.clusters)}, "
                f"disputed={len(self.disputed)})")
