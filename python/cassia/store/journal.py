"""The run directory's writer thread: transcripts and results-log appends, in the order handed in.

An agent call used to write its transcript (open, write, rename) on the event loop, and every
result waited for its own open, write and fsync: at 1,000 clusters and 32 requests in flight
those system calls stalled the loop between requests. Here one thread takes them in order;
results that arrive together share one write and one fsync (a group commit), and a result is
reported durable only after every transcript handed in before it is on disk, so the log never
points past what the transcripts hold. The thread starts when there is work and ends when the
queue is empty; it is not a daemon, so the interpreter's exit waits for what was handed in.
At most :data:`MAX_PENDING` items wait at once: a caller beyond that waits for the writer, so
memory stays bounded when thousands of replies arrive together (batch mode).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import redact
from .log import write_atomic

MAX_PENDING = 256

# What a result's waiter is told: None when its line is durable, else the error that stopped it.
Done = Callable[[BaseException | None], None]


class Journal:
    """Ordered writes of one run directory, off the caller's thread (see the module docstring)."""

    def __init__(self, results: Path):
        self.results = results
        self._items: deque[tuple] = deque()
        self._lock = threading.Lock()
        self._room = threading.Semaphore(MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None  # the first failed write: later results report it

    # -- handing work in
    def transcript(self, path: Path, record: dict[str, Any]) -> None:
        """Write ``record`` as JSON to ``path`` (replaced in one step), after what was handed in before."""
        self._put(("transcript", path, record))

    def append(self, line: bytes, done: Done) -> None:
        """Append ``line`` to the results log, fsync'd; ``done`` is called from the writer thread."""
        self._put(("result", line, done))

    def wait(self) -> None:
        """Return once everything handed in so far is written (or has failed)."""
        finished = threading.Event()
        self._put(("barrier", finished))
        finished.wait()

    def _put(self, item: tuple) -> None:
        self._room.acquire()
        with self._lock:
            self._items.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name="cassia-journal", daemon=False)
                self._thread.start()

    # -- the writer thread
    def _drain(self) -> None:
        while True:
            with self._lock:  # the thread ends only with nothing left: a _put after this starts a new one
                if not self._items:
                    self._thread = None
                    return
                batch = list(self._items)
                self._items.clear()
            try:
                self._write(batch)
            finally:
                for _ in batch:
                    self._room.release()

    def _write(self, batch: list[tuple]) -> None:
        lines: list[bytes] = []
        waiters: list[Done] = []
        barriers: list[threading.Event] = []
        for item in batch:  # transcripts first: a result must not be durable before an earlier transcript
            kind = item[0]
            if kind == "transcript":
                self._write_transcript(item[1], item[2])
            elif kind == "result":
                lines.append(item[1])
                waiters.append(item[2])
            else:
                barriers.append(item[1])
        error = self._error
        if lines and error is None:
            try:
                self._append_lines(lines)
            except Exception as err:  # noqa: BLE001 - whatever stops the write is the waiters' error
                error = self._error = err
        for done in waiters:
            try:
                done(error)
            except Exception:  # noqa: BLE001 - one waiter's failure must not leave the others waiting
                pass
        for barrier in barriers:
            barrier.set()

    def _write_transcript(self, path: Path, record: dict[str, Any]) -> None:
        if self._error is not None:
            return
        try:
            text = redact(json.dumps(record, indent=2, default=str))
            try:
                write_atomic(path, text)
            except FileNotFoundError:  # the cluster's first call: its folder
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, text)
        except Exception as err:  # noqa: BLE001 - a lost transcript fails the results after it
            self._error = err

    def _append_lines(self, lines: list[bytes]) -> None:
        with open(self.results, "a+b") as handle:
            if handle.seek(0, os.SEEK_END) > 0:  # never glue a record onto a line cut short
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    lines[0] = b"\n" + lines[0]
            handle.write(b"".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
