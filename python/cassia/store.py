"""The run directory: written as the run goes, so a crash loses at most the clusters in flight.

Layout (docs/architecture.md): ``manifest.json`` (rewritten atomically), ``results.jsonl`` (one
:class:`~cassia.models.ClusterResult` per line, appended and fsync'd as each cluster finishes;
on resume the last line for a cluster wins), ``transcripts/<slug>/<NN>-<task>.json`` (every
agent call), ``summary.csv`` and the HTML report.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from .errors import InputError, redact
from .models import ClusterResult
from .spelling import spell

SUMMARY_COLUMNS = [
    "Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type",
    "Possible Mixed Cell Types", "Marker Number", "Marker List", "Iterations", "Model", "Provider",
    "Tissue", "Species", "Score", "Scoring Reasoning", "Cell Ontology ID", "Subtypes", "Validated",
    "Boosted", "Status", "Error", "Tokens", "Cost USD",
]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slug(cluster: str) -> str:
    """A filesystem-safe, stable name for a cluster; distinct raw names never collide."""
    readable = re.sub(r"[^a-z0-9]+", "-", str(cluster).lower()).strip("-")[:40] or "cluster"
    digest = hashlib.sha1(str(cluster).encode("utf-8")).hexdigest()[:6]
    return f"{readable}-{digest}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        raise InputError(f"{run_dir} is not a CASSIA run directory (no manifest.json); pass the --out folder of a run.")
    return json.loads(path.read_text(encoding="utf-8"))


def _latest_lines(path: Path) -> dict[str, int]:
    """Byte offset of the last readable line of each cluster, in first-seen order.

    Only offsets are kept, so a run of any size is indexed in little memory.
    """
    offsets: dict[str, int] = {}
    with open(path, "rb") as handle:
        while True:
            offset = handle.tell()
            line = handle.readline()
            if not line:
                break
            try:
                cluster = json.loads(line)["cluster"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that cluster simply reruns
            offsets[str(cluster)] = offset
    return offsets


def iter_results(run_dir: str | Path, clusters: Iterable[str] | None = None) -> Iterator[ClusterResult]:
    """Stream a run's results one cluster at a time (the last line per cluster wins).

    With ``clusters`` the results come in that order (a run's summary follows its input's
    cluster order, not the order clusters happened to finish); otherwise in first-seen order.
    """
    path = Path(run_dir) / "results.jsonl"
    if not path.exists():
        return
    offsets = _latest_lines(path)
    order = offsets if clusters is None else [c for c in dict.fromkeys(str(c) for c in clusters) if c in offsets]
    with open(path, "rb") as handle:
        for cluster in order:
            handle.seek(offsets[cluster])
            try:
                yield ClusterResult.model_validate_json(handle.readline())
            except ValueError:
                continue


def read_results(run_dir: str | Path, clusters: Iterable[str] | None = None) -> list[ClusterResult]:
    """Results in first-seen order; the last line per cluster wins; a torn line is ignored."""
    return list(iter_results(run_dir, clusters))


def summary_frame(results: Iterable[ClusterResult]) -> pd.DataFrame:
    """The summary table CASSIA users know (columns in :data:`SUMMARY_COLUMNS`)."""
    rows = []
    for r in results:
        ann = r.annotation or r.diagnosis
        annotator = r.stages.get("annotator")
        rows.append({
            "Cluster ID": r.cluster,
            "Predicted General Cell Type": ann.main_cell_type if ann else None,
            "Predicted Detailed Cell Type": ann.sub_cell_types[0] if ann and ann.sub_cell_types else None,
            "Possible Mixed Cell Types": ", ".join(ann.mixed_cell_types) if ann else None,
            "Marker Number": len(r.markers),
            "Marker List": ", ".join(r.markers),
            "Iterations": r.iterations,
            "Model": annotator.model if annotator else None,
            "Provider": annotator.provider if annotator else None,
            "Tissue": r.tissue,
            "Species": r.species,
            "Score": r.score.score if r.score else None,
            "Scoring Reasoning": r.score.reasoning if r.score else None,
            "Cell Ontology ID": r.cell_ontology_id,
            "Subtypes": ", ".join(ann.sub_cell_types) if ann else None,
            "Validated": r.validated,
            "Boosted": r.boosted,
            "Status": r.status,
            "Error": r.error,
            "Tokens": r.tokens,
            "Cost USD": r.cost_usd,
        })
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    frame["Cluster ID"] = frame["Cluster ID"].astype(str)
    frame["Score"] = pd.to_numeric(frame["Score"], errors="coerce")
    return frame


class RunStore:
    """Writes one run directory. Thread-safe appends; every write is durable before it returns."""

    def __init__(self, run_dir: str | Path, *, resume: bool = False):
        self.run_dir = Path(run_dir)
        self.resume = resume
        self._lock = threading.Lock()
        self._call_numbers: dict[str, int] = {}
        if not resume and next(iter_results(self.run_dir), None) is not None:
            raise InputError(
                f"{self.run_dir} already holds a run. Pass {spell('resume', True)} to finish it, "
                "or choose another output folder."
            )
        (self.run_dir / "transcripts").mkdir(parents=True, exist_ok=True)

    # -- manifest
    def manifest(self) -> dict[str, Any]:
        path = self.run_dir / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = redact(json.dumps(manifest, indent=2, default=str))
        with self._lock:
            _write_atomic(self.run_dir / "manifest.json", text)

    # -- results
    def finished(self) -> set[str]:
        """Clusters already answered successfully (the ones resume skips)."""
        return {r.cluster for r in iter_results(self.run_dir) if r.status == "ok"}

    def append(self, result: ClusterResult) -> None:
        line = redact(result.model_dump_json()) + "\n"
        with self._lock, open(self.run_dir / "results.jsonl", "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    # -- transcripts
    def transcript(self, cluster: str, task: str, record: dict[str, Any]) -> Path:
        folder = self.run_dir / "transcripts" / slug(cluster)
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            number = self._call_numbers.get(cluster)
            if number is None:  # continue numbering after a resumed run's files
                number = len(list(folder.glob("*.json")))
            number += 1
            self._call_numbers[cluster] = number
        path = folder / f"{number:02d}-{task}.json"
        _write_atomic(path, redact(json.dumps({"cluster": cluster, "task": task, "time": now(), **record},
                                              indent=2, default=str)))
        return path

    # -- summary
    def write_summary(self, results: Iterable[ClusterResult] | None = None) -> Path:
        frame = summary_frame(results if results is not None else iter_results(self.run_dir))
        path = self.run_dir / "summary.csv"
        tmp = path.with_name(".summary.csv.tmp")
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
        return path


def environment_info() -> dict[str, str]:
    from .version import __version__

    return {
        "cassia": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pandas": pd.__version__,
    }
