"""Reading finished runs into per-cluster answers, whatever form the runs come in.

A run may be a :class:`~cassia.workflows.pipeline.RunResult` (or anything with ``.results`` holding
:class:`~cassia.models.ClusterResult` objects, such as a subclustering result), a run
directory, a ``summary.csv`` path, or a summary DataFrame. DataFrames may use this package's
columns (``Predicted General Cell Type``, ``Predicted Detailed Cell Type``) or the original
CASSIA ones (``Predicted Main Cell Type``, ``Predicted Sub Cell Types``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..errors import InputError
from ..models import ClusterResult
from ..ontology.compare import Answer
from ..store import input_order, read_results, restore_csv

__all__ = ["Answer", "RunAnswers", "cluster_order", "fingerprint", "load_runs"]

_CLUSTER_COLUMNS = ("Cluster ID", "cluster", "Cluster")
_GENERAL_COLUMNS = ("Predicted General Cell Type", "Predicted Main Cell Type", "Main Cell Type")
_DETAILED_COLUMNS = ("Predicted Detailed Cell Type", "Sub Cell Type")
_SUBTYPE_LIST_COLUMNS = ("Predicted Sub Cell Types", "Subtypes")


@dataclass
class RunAnswers:
    """Every cluster's answer in one run, with a label naming the run."""

    label: str
    answers: dict[str, Answer] = field(default_factory=dict)
    source: str = ""


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def fingerprint(result: ClusterResult) -> str | None:
    """One hash of a result's reasoning and answer: equal only for word-for-word repeats (a
    deterministic backend, or a run replayed from the response cache). None without reasoning."""
    reasoning = [m.content for m in result.conversation if m.role == "assistant"]
    if result.boost is not None:
        reasoning += [m.content for m in result.boost.conversation if m.role == "assistant"]
    ann = result.annotation or result.diagnosis
    if not reasoning or ann is None:
        return None
    text = json.dumps([reasoning, ann.model_dump(mode="json")], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _from_results(results: Sequence[ClusterResult]) -> dict[str, Answer]:
    answers = {}
    for r in results:
        ann = r.annotation or r.diagnosis
        if r.status != "ok" or ann is None or not _clean(ann.main_cell_type):
            answers[r.cluster] = Answer(None, (), r.status, tuple(r.markers))
            continue
        subtypes = tuple(s for s in (_clean(x) for x in ann.sub_cell_types) if s)
        answers[r.cluster] = Answer(_clean(ann.main_cell_type), subtypes, "ok", tuple(r.markers),
                                    validated=r.outcome == "ok",
                                    fingerprint=fingerprint(r))
    return answers


def _pick(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _from_frame(frame: pd.DataFrame, where: str) -> dict[str, Answer]:
    cluster_col = _pick(frame, _CLUSTER_COLUMNS)
    general_col = _pick(frame, _GENERAL_COLUMNS)
    if cluster_col is None or general_col is None:
        raise InputError(
            f"{where} has no '{_CLUSTER_COLUMNS[0]}' and '{_GENERAL_COLUMNS[0]}' columns (found: "
            f"{', '.join(map(str, frame.columns))}); pass a CASSIA summary.csv or run directory."
        )
    detailed_col = _pick(frame, _DETAILED_COLUMNS)
    list_col = _pick(frame, _SUBTYPE_LIST_COLUMNS)
    answers = {}
    for _, row in frame.iterrows():
        cluster = str(row[cluster_col]).strip()
        general = _clean(row[general_col])
        status = _clean(row.get("Status")) or "ok"
        markers = tuple(g.strip() for g in (_clean(row.get("Marker List")) or "").split(",") if g.strip())
        # "unvalidated" (summary.csv's Status since issue 14) or Validated False: an answer, not checked
        validated = status != "unvalidated" and str(_clean(row.get("Validated")) or "true").lower() not in ("false", "0")
        if general is None or status not in ("ok", "unvalidated"):
            answers[cluster] = Answer(None, (), status if status != "ok" else "missing", markers)
            continue
        detailed = _clean(row[detailed_col]) if detailed_col else None
        if detailed is None and list_col is not None:
            # lists are comma-joined, so this split is only a fallback (labels may hold commas)
            detailed = next((s.strip() for s in (_clean(row[list_col]) or "").split(",") if s.strip()), None)
        answers[cluster] = Answer(general, (detailed,) if detailed else (), "ok", markers, validated=validated)
    return answers


def _read_path(path: Path) -> tuple[dict[str, Answer], str]:
    if path.is_dir():

        if (path / "results.jsonl").exists():
            return _from_results(read_results(path, input_order(path))), path.name
        if (path / "summary.csv").exists():
            return _read_path(path / "summary.csv")[0], path.name
        raise InputError(f"{path} holds neither results.jsonl nor summary.csv; pass a CASSIA run directory.")
    if not path.exists():
        raise InputError(f"{path} does not exist; pass a run directory, a summary.csv or a DataFrame.")
    if path.name == "summary.csv" and (path.parent / "results.jsonl").exists():
        return _read_path(path.parent)  # the run's own record keeps the reasoning the summary lacks
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    frame = restore_csv(pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""]))
    label = path.parent.name if path.name == "summary.csv" else path.stem
    return _from_frame(frame, str(path)), label


def load_runs(inputs: Sequence[Any], *, labels: Sequence[str] | None = None) -> list[RunAnswers]:
    """One :class:`RunAnswers` per input, labelled by ``labels`` or by the run's folder/file name."""
    if isinstance(inputs, (str, Path, pd.DataFrame)) or hasattr(inputs, "results"):
        raise InputError("pass a list of runs (run directories, summary.csv paths, DataFrames or RunResults).")
    inputs = list(inputs)
    if not inputs:
        raise InputError("no runs given; pass at least one run directory, summary.csv, DataFrame or RunResult.")
    if labels is not None and len(labels) != len(inputs):
        raise InputError(f"got {len(labels)} labels for {len(inputs)} runs; give one label per run.")
    runs = []
    for i, item in enumerate(inputs, start=1):
        if isinstance(item, pd.DataFrame):
            answers, label = _from_frame(item, f"input {i}"), f"input-{i}"
        elif isinstance(item, (str, Path)):
            answers, label = _read_path(Path(item))
        elif hasattr(item, "results"):
            answers = _from_results(list(item.results))
            run_dir = getattr(item, "run_dir", None)
            label = Path(run_dir).name if run_dir else f"input-{i}"
        else:
            raise InputError(f"input {i} is a {type(item).__name__}; pass run directories, summary.csv paths, "
                             "DataFrames or RunResults.")
        runs.append(RunAnswers(label=str(labels[i - 1]) if labels else label, answers=answers, source=str(item)
                               if isinstance(item, (str, Path)) else type(item).__name__))
    _deduplicate_labels(runs)
    return runs


def _deduplicate_labels(runs: list[RunAnswers]) -> None:
    taken: set[str] = set()
    for run in runs:
        label, number = run.label, 1
        while label in taken:
            number += 1
            label = f"{run.label}-{number}"
        run.label = label
        taken.add(label)


def cluster_order(runs: Sequence[RunAnswers]) -> list[str]:
    """Every cluster any run answered, in first-seen order."""
    order: dict[str, None] = {}
    for run in runs:
        for cluster in run.answers:
            order.setdefault(cluster, None)
    return list(order)
