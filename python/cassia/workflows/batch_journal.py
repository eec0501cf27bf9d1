"""What a run sent to provider batch APIs, kept in its run directory so a killed run resumes.

``batches/journal.jsonl`` is appended (and fsync'd) before and after every step that talks to
a provider: ``create`` (the batch's requests as ``custom_id`` + request hash, written *before*
the submission), ``submitted`` (the provider's batch id), ``state`` (each change seen while
polling), ``ended`` (after the results are saved in ``batches/<local>.results.jsonl``) and
``abandoned`` (a submission that provably never happened). A process killed at any moment
therefore finds every batch it may have created: those with an id are polled again, never
resubmitted; one killed between ``create`` and ``submitted`` is looked up at the provider.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..providers.batches import BatchItemResult

__all__ = ["BatchJournal", "BatchRecord"]


@dataclass
class BatchRecord:
    """One provider batch of this run, as far as the journal knows."""

    local: str  # our name for it: b0001, b0002, ...
    provider: dict[str, Any]
    tag: str  # what the provider's metadata carries, to find it again
    created: float  # time of the create event (before the submission)
    requests: list[tuple[str, str]]  # (custom_id, request hash)
    batch_id: str | None = None
    state: str = "creating"
    counts: dict[str, int] = field(default_factory=dict)
    ended: bool = False
    abandoned: bool = False

    @property
    def open(self) -> bool:
        """Submitted (or maybe submitted) and not finished: a provider may still be working on it."""
        return not self.ended and not self.abandoned


class BatchJournal:
    def __init__(self, run_dir: str | Path):
        self.folder = Path(run_dir) / "batches"
        self.path = self.folder / "journal.jsonl"
        self._lock = threading.Lock()
        self.records: dict[str, BatchRecord] = {}
        self.run_token = ""
        if self.path.exists():
            self._load()

    # ------------------------------------------------------------ reading

    def _events(self) -> Iterator[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a kill: the event did not happen

    def _load(self) -> None:
        for event in self._events():
            kind, local = event.get("event"), event.get("local")
            if kind == "run":
                self.run_token = event["token"]
            elif kind == "create":
                self.records[local] = BatchRecord(local, event["provider"], event["tag"], event["time"],
                                                  [tuple(r) for r in event["requests"]])
            elif local in self.records:
                record = self.records[local]
                if kind == "submitted":
                    record.batch_id, record.state = event["id"], "submitted"
                elif kind == "state":
                    record.state, record.counts = event["state"], event.get("counts") or {}
                elif kind == "ended":
                    record.ended, record.state = True, event.get("state", record.state)
                elif kind == "abandoned":
                    record.abandoned, record.state = True, "never submitted"

    # ------------------------------------------------------------ writing

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps({**event, "at": time.time()}) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())

    def create(self, provider: dict[str, Any], requests: list[tuple[str, str]]) -> BatchRecord:
        if not self.run_token:
            self.run_token = secrets.token_hex(4)
            self._append({"event": "run", "token": self.run_token})
        local = f"b{len(self.records) + 1:04d}"
        record = BatchRecord(local, provider, f"cassia-{self.run_token}-{local}", time.time(), list(requests))
        self._append({"event": "create", "local": local, "provider": provider, "tag": record.tag,
                      "time": record.created, "requests": [list(r) for r in requests]})
        self.records[local] = record
        return record

    def submitted(self, record: BatchRecord, batch_id: str) -> None:
        self._append({"event": "submitted", "local": record.local, "id": batch_id})
        record.batch_id, record.state = batch_id, "submitted"

    def state(self, record: BatchRecord, state: str, counts: dict[str, int]) -> None:
        self._append({"event": "state", "local": record.local, "state": state, "counts": counts})
        record.state, record.counts = state, dict(counts)

    def abandoned(self, record: BatchRecord, reason: str) -> None:
        self._append({"event": "abandoned", "local": record.local, "reason": reason})
        record.abandoned, record.state = True, "never submitted"

    def ended(self, record: BatchRecord, state: str, results: list[BatchItemResult]) -> None:
        """Save the results first, then say so: a kill in between just downloads them again."""
        path = self.results_path(record.local)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for item in results:
                handle.write(json.dumps(item.__dict__) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        self._append({"event": "ended", "local": record.local, "state": state})
        record.ended, record.state = True, state

    def results_path(self, local: str) -> Path:
        return self.folder / f"{local}.results.jsonl"

    def results(self, local: str) -> dict[str, BatchItemResult]:
        out: dict[str, BatchItemResult] = {}
        with open(self.results_path(local), encoding="utf-8") as handle:
            for line in handle:
                item = BatchItemResult(**json.loads(line))
                out[item.custom_id] = item
        return out
