"""Looking after a run's provider batches from outside the run: ``cassia batch status|cancel RUN``.

Both read the run directory's batch journal (:mod:`cassia.workflows.batch_journal`); ``status``
asks each provider for the current state of the batches still open (``refresh=False`` shows
what the journal last saw), ``cancel`` asks the providers to cancel them. A cancelled batch's
finished requests are still used when the run resumes; the rest fail and are retried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CassiaError, InputError
from ..providers import get_provider
from ..providers.base import ProviderConfig
from ..providers.batches import batch_client
from .batch_journal import BatchJournal, BatchRecord
from .engine import run_sync

__all__ = ["batch_cancel", "batch_status"]


def _journal(run_dir: str | Path) -> BatchJournal:
    journal = BatchJournal(run_dir)
    if not journal.path.exists():
        raise InputError(f"{run_dir} has no provider batches (no batches/journal.jsonl); "
                         "only runs started with --batch-api / batch_api=True have them")
    return journal


def _client(record: BatchRecord, clients: dict[str, Any]):
    key = repr(sorted(record.provider.items(), key=lambda kv: kv[0]))
    if key not in clients:
        public = dict(record.provider)
        public["options"] = tuple((public.get("options") or {}).items())
        fields = {name: public[name] for name in ProviderConfig.__dataclass_fields__ if name in public}
        clients[key] = batch_client(get_provider(ProviderConfig(**fields)))
    return clients[key]


def _row(record: BatchRecord, state: str | None = None, counts: dict | None = None, note: str = "") -> dict:
    return {"batch": record.local, "provider": record.provider.get("name"), "model": record.provider.get("model"),
            "id": record.batch_id, "requests": len(record.requests), "state": state or record.state,
            "counts": counts if counts is not None else record.counts, "note": note}


def batch_status(run_dir: str | Path, *, refresh: bool = True) -> list[dict[str, Any]]:
    """One row per provider batch of the run: its id, state and request counts."""
    journal = _journal(run_dir)
    clients: dict[str, Any] = {}

    async def go() -> list[dict[str, Any]]:
        rows = []
        for record in journal.records.values():
            if not (refresh and record.open and record.batch_id):
                rows.append(_row(record))
                continue
            try:
                state = await _client(record, clients).poll(record.batch_id)
                rows.append(_row(record, state.status, state.counts))
            except CassiaError as err:
                rows.append(_row(record, note=f"could not refresh: {err}"))
        return rows

    return run_sync(go)


def batch_cancel(run_dir: str | Path) -> list[dict[str, Any]]:
    """Ask the providers to cancel every batch of the run still open; rows as in :func:`batch_status`."""
    journal = _journal(run_dir)
    clients: dict[str, Any] = {}

    async def go() -> list[dict[str, Any]]:
        rows = []
        for record in journal.records.values():
            if not (record.open and record.batch_id):
                continue
            try:
                state = await _client(record, clients).cancel(record.batch_id)
                rows.append(_row(record, state.status, state.counts, "cancel requested"))
            except CassiaError as err:
                rows.append(_row(record, note=f"could not cancel: {err}"))
        return rows

    return run_sync(go)
