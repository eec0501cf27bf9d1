"""Deterministic consensus across several finished runs or models: a majority vote, no LLM.

Each input (a run directory, ``summary.csv``, summary DataFrame or RunResult) casts one vote per
cluster: its general cell type, and separately its top subtype. Names are unified through the
Cell Ontology first (a name that maps counts as its CL term; an unmapped name counts as its
case- and space-normalised text), so "CD8+ T cells" and "CD8-positive, alpha-beta T cell" are
the same vote. Status of a cluster, from the general-type votes:

- ``consensus``: at least two votes and all agree;
- ``partial``: more than half agree, but not all;
- ``conflict``: no name has more than half of the votes (ties included);
- ``single vote``: only one input answered the cluster;
- ``no vote``: the cluster appears only as failed or empty answers.

Only answers that are evidence vote, by the same rules as the uncertainty score
(:mod:`.uncertainty.votes`): a failed or missing answer, one that never passed the Validator,
one that names no cell type ("Unknown") and a word-for-word repeat of an earlier input (a
deterministic backend or a cached replay: n copies of one answer are one answer) are left
out, and the ``Left Out`` column says which input was left out and why. The per-input columns
still show every input's own answer.

The consensus label is the most voted name; ties go to the name that appeared first, in input
order (and the status is then ``conflict``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import pandas as pd

from ..ontology.compare import Answer, cl_key, consensus_value, display_name
from ..options import checked
from .answers import cluster_order, load_runs
from .uncertainty.votes import counted_votes

__all__ = ["CONSENSUS_COLUMNS", "consensus", "run_consensus", "vote_status"]

CONSENSUS_COLUMNS = [
    "Cluster ID", "Consensus General Type", "Consensus General CL ID", "Status", "Votes", "Majority Votes",
    "Agreement", "Consensus Subtype", "Consensus Subtype CL ID", "Subtype Status", "Subtype Agreement", "Left Out",
]  # then "<label> General", "<label> Subtype" per input


def vote_status(keys: Sequence[str | None]) -> tuple[str | None, str, int, int]:
    """(winning key, status, votes cast, votes for the winner) for one cluster's unified votes."""
    cast = [k for k in keys if k is not None]
    if not cast:
        return None, "no vote", 0, 0
    winner = consensus_value(cast)
    top = Counter(cast)[winner]
    if len(cast) == 1:
        status = "single vote"
    elif top == len(cast):
        status = "consensus"
    elif top * 2 > len(cast):
        status = "partial"
    else:
        status = "conflict"
    return winner, status, len(cast), top


def _cl_id(key: str | None) -> str | None:
    return key if key and key.startswith("CL:") else None


@checked
def consensus(inputs: Sequence[Any], *, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per cluster: the majority general type and subtype across ``inputs``, with a status.

    ``inputs``: run directories, ``summary.csv`` paths, summary DataFrames or RunResults (at
    least one); ``labels`` names them in the per-input columns (default: folder or file names,
    ``input-k`` for DataFrames). Columns: :data:`CONSENSUS_COLUMNS`, then ``<label> General`` and
    ``<label> Subtype`` for every input. Agreement is the winner's share of the votes cast.
    """
    runs = load_runs(inputs, labels=labels)
    rows = []
    for cluster in cluster_order(runs):
        answers = [run.answers.get(cluster) or Answer(None, status="missing") for run in runs]
        generals = [a.general for a in answers]
        subtypes = [a.subtype if a.general else None for a in answers]
        counted = counted_votes([(run.label, a) for run, a in zip(runs, answers)])
        votes = [a for _, a, _ in counted]
        general, status, cast, top = vote_status([cl_key(a.general) for a in votes])
        subtype, sub_status, sub_cast, sub_top = vote_status([cl_key(a.subtype) if a.general else None
                                                              for a in votes])
        left_out = "; ".join(f"{label}: {reason}" for label, _, reason in counted if reason and reason != "missing")
        names = [a.general for a in votes if a.general]
        sub_names = [a.subtype for a in votes if a.general and a.subtype]
        row: dict[str, Any] = {
            "Cluster ID": cluster,
            "Consensus General Type": display_name(general, names),
            "Consensus General CL ID": _cl_id(general),
            "Status": status,
            "Votes": cast,
            "Majority Votes": top,
            "Agreement": round(top / cast, 4) if cast else None,
            "Consensus Subtype": display_name(subtype, sub_names),
            "Consensus Subtype CL ID": _cl_id(subtype),
            "Subtype Status": sub_status,
            "Subtype Agreement": round(sub_top / sub_cast, 4) if sub_cast else None,
            "Left Out": left_out or None,
        }
        for run, g, s in zip(runs, generals, subtypes):
            row[f"{run.label} General"] = g
            row[f"{run.label} Subtype"] = s
        rows.append(row)
    per_input = [f"{run.label} {part}" for run in runs for part in ("General", "Subtype")]
    frame = pd.DataFrame(rows, columns=CONSENSUS_COLUMNS + per_input)
    frame["Cluster ID"] = frame["Cluster ID"].astype(str)
    for column in ("Agreement", "Subtype Agreement"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


# The name to export from the package root: there ``consensus`` would shadow this module.
run_consensus = consensus
