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

import asyncio
import json
import os
import platform
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from ..errors import InputError, redact
from ..models import ClusterResult
from ..spelling import spell
from .journal import Journal
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
    """Writes one run directory. Thread-safe; an append returns once its line is durable, transcripts
    are written in order by the run's writer thread (:mod:`.journal`), before any later result.

    Opening takes the directory's lock (released by :meth:`close`, or when the store is
    garbage-collected or the process ends), clears temp files of a killed write and repairs
    the results log; ``notes`` says what was repaired.
    """

    def __init__(self, run_dir: str | Path, *, resume: bool = False):
        self.run_dir = Path(run_dir)
        self.resume = resume
        self._lock = threading.Lock()
        self._numbers_lock = threading.Lock()
        self._call_numbers: dict[str, tuple[Path, int]] = {}  # a cluster's folder, its last call
        self._journal = Journal(self.run_dir / RESULTS)  # transcripts and appends, off the caller's thread
        # called on the writer thread with each result once it is durable (e.g. report.PageStream);
        # a listener must not raise
        self.listeners: list[Callable[[ClusterResult], None]] = []
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
        """Finish the pending writes, then release the directory's lock (idempotent)."""
        self._journal.wait()
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
        """Add ``result`` to the results log; returns once it is durable (fsync'd)."""
        box: list[BaseException | None] = []
        written = threading.Event()

        def done(error: BaseException | None) -> None:
            box.append(error)
            written.set()
            self._committed(result, error)

        self._journal.append(_line(result), done)
        written.wait()
        if box[0] is not None:
            raise box[0]

    async def append_async(self, result: ClusterResult) -> None:
        """:meth:`append` for the event loop: it waits for the writer thread without blocking the loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if not future.done():
                future.set_exception(error) if error is not None else future.set_result(None)

        def done(error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, error)
            except RuntimeError:  # the loop closed while the line was written: nobody waits for it
                pass
            self._committed(result, error)

        self._journal.append(_line(result), done)
        await future

    def _committed(self, result: ClusterResult, error: BaseException | None) -> None:
        if error is None:  # after the waiter is told: a listener's work does not delay the cluster
            for listener in self.listeners:
                listener(result)

    def flush(self) -> None:
        """Wait until every transcript and result handed in so far is written."""
        self._journal.wait()

    # -- transcripts
    def transcript(self, cluster: str, task: str, record: dict[str, Any]) -> Path:
        """Hand one agent call's record to the writer thread; returns the path it will have."""
        with self._numbers_lock:  # callers on the loop and in threads
            folder, number = self._call_numbers.get(cluster) or (self.run_dir / "transcripts" / slug(cluster), None)
            if number is None:  # the cluster's first call: numbering after a resumed run's files
                number = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
            number += 1
            self._call_numbers[cluster] = (folder, number)
        path = folder / f"{number:02d}-{task}.json"
        self._journal.transcript(path, {"cluster": cluster, "task": task, "time": now(), **record})
        return path

    # -- summary
    def write_summary(self, results: Iterable[ClusterResult] | None = None) -> Path:
        frame = summary_frame(results if results is not None else iter_results(self.run_dir))
        return write_csv(frame, self.run_dir / "summary.csv")


def _line(result: ClusterResult) -> bytes:
    return (redact(result.model_dump_json()) + "\n").encode("utf-8")


def environment_info() -> dict[str, str]:
    from ..version import __version__

    return {
        "cassia": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pandas": pd.__version__,
    }
