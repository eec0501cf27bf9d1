"""The run directory: written as the run goes, so a crash loses at most the clusters in flight.

Layout (docs/architecture.md): ``manifest.json`` (rewritten atomically), ``results.jsonl`` (one
:class:`~cassia.models.ClusterResult` per line, appended and fsync'd as each cluster finishes;
on resume the last line for a cluster wins, :mod:`.log`), ``transcripts/<slug>/<NN>-<task>.json``
(every agent call), ``summary.csv`` (:mod:`.table`) and the HTML report.

Crash safety: one process writes a directory at a time (:mod:`.lock`); opening a store removes
temp files a killed write left behind and sets aside a torn or unreadable line of the results
log (kept in ``results.jsonl.corrupt``, reported), so the cluster it held is simply run again;
every append starts on a new line.
"""

from __future__ import annotations

import json
import os
import platform
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..errors import InputError, redact
from ..models import ClusterResult
from ..spelling import spell
from .lock import RunLockedError, acquire
from .log import (
    CORRUPT,
    RESULTS,
    finished_order,
    iter_results,
    missing_clusters,
    now,
    read_manifest,
    read_results,
    remove_temp_files,
    repair_results,
    slug,
    write_atomic,
)
from .table import SUMMARY_COLUMNS, csv_safe, csv_unsafe, restore_csv, summary_frame, summary_order, write_csv

__all__ = [
    "CORRUPT", "RESULTS", "SUMMARY_COLUMNS", "RunLockedError", "RunStore", "csv_safe", "csv_unsafe",
    "environment_info", "input_order", "iter_results", "missing_clusters", "now", "read_manifest", "read_results",
    "remove_temp_files", "repair_results", "restore_csv", "slug", "summary_frame", "write_csv",
]


def input_order(run_dir: str | Path) -> list[str]:
    """A run's clusters in its input's order, which its summary.csv keeps (results.jsonl has them in
    the order they finished), then any the summary does not list yet. Steps that rewrite the
    summary of a finished run (scoring, boosting) and readers of runs (:meth:`RunResult.load`, the
    uncertainty and consensus inputs) keep that order."""
    finished = finished_order(run_dir)
    known = set(finished)
    listed = [c for c in summary_order(Path(run_dir) / "summary.csv") if c in known]
    return list(dict.fromkeys(listed + finished))


class RunStore:
    """Writes one run directory. Thread-safe appends; every write is durable before it returns.

    Opening takes the directory's lock (released by :meth:`close`, or when the store is
    garbage-collected or the process ends), clears temp files of a killed write and repairs
    the results log; ``notes`` says what was repaired.
    """

    def __init__(self, run_dir: str | Path, *, resume: bool = False):
        self.run_dir = Path(run_dir)
        self.resume = resume
        self._lock = threading.Lock()
        self._numbers_lock = threading.Lock()
        self._call_numbers: dict[str, int] = {}
        try:
            (self.run_dir / "transcripts").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create the output folder {self.run_dir} ({err.strerror or err}); "
                             f"pass a folder you can write to ({spell('out_dir')})") from None
        if not os.access(self.run_dir, os.W_OK | os.X_OK):
            raise InputError(f"the output folder {self.run_dir} is not writable; "
                             f"pass a folder you can write to ({spell('out_dir')})")
        self._run_lock = acquire(self.run_dir)
        self._finalizer = weakref.finalize(self, self._run_lock.release)
        try:
            if not resume and next(iter_results(self.run_dir), None) is not None:  # refused untouched
                raise InputError(
                    f"{self.run_dir} already holds a run. Pass {spell('resume', True)} to finish it, "
                    "or choose another output folder."
                )
            self.notes = self._recover()
        except BaseException:
            self.close()
            raise

    def _recover(self) -> list[str]:
        notes = []
        held = self._run_lock.took_over
        if held and held.get("pid") != os.getpid():
            notes.append(f"took over the lock of process {held.get('pid')} (started {held.get('started')}), "
                         "which ended without releasing it")
        removed = remove_temp_files(self.run_dir)
        if removed:
            notes.append(f"removed {len(removed)} temp file(s) left by an interrupted write")
        notes += repair_results(self.run_dir)
        for note in notes:
            warnings.warn(f"CASSIA run {self.run_dir}: {note}", stacklevel=3)
        return notes

    def close(self) -> None:
        """Release the directory's lock (idempotent)."""
        self._finalizer()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- manifest
    def manifest(self) -> dict[str, Any]:
        path = self.run_dir / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = redact(json.dumps(manifest, indent=2, default=str))
        with self._lock:
            write_atomic(self.run_dir / "manifest.json", text)

    # -- results
    def finished(self) -> set[str]:
        """Clusters already answered successfully (the ones resume skips)."""
        return {r.cluster for r in iter_results(self.run_dir) if r.status == "ok"}

    def append(self, result: ClusterResult) -> None:
        line = (redact(result.model_dump_json()) + "\n").encode("utf-8")
        with self._lock, open(self.run_dir / RESULTS, "a+b") as handle:
            if handle.seek(0, os.SEEK_END) > 0:  # never glue a record onto a line cut short
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = b"\n" + line
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    # -- transcripts
    def transcript(self, cluster: str, task: str, record: dict[str, Any]) -> Path:
        folder = self.run_dir / "transcripts" / slug(cluster)
        # its own lock: called on the event loop, it must not wait for an append's fsync (self._lock)
        with self._numbers_lock:
            number = self._call_numbers.get(cluster)
            if number is None:  # the cluster's first call: its folder, numbering after a resumed run's files
                try:
                    folder.mkdir(parents=True)
                    number = 0
                except FileExistsError:
                    number = len(list(folder.glob("*.json")))
            number += 1
            self._call_numbers[cluster] = number
        path = folder / f"{number:02d}-{task}.json"
        write_atomic(path, redact(json.dumps({"cluster": cluster, "task": task, "time": now(), **record},
                                              indent=2, default=str)))
        return path

    # -- summary
    def write_summary(self, results: Iterable[ClusterResult] | None = None) -> Path:
        frame = summary_frame(results if results is not None else iter_results(self.run_dir))
        return write_csv(frame, self.run_dir / "summary.csv")


def environment_info() -> dict[str, str]:
    from ..version import __version__

    return {
        "cassia": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pandas": pd.__version__,
    }
