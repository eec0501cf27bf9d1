"""SQLite response cache: a rerun of a finished run makes no network call.

The key is a hash of everything that changes an answer (backend, base URL, model, sampling
parameters, system prompt, messages, output schema) and nothing secret. WAL mode and a busy
timeout make it safe for several processes writing at once; each thread gets its own connection.
A damaged database file never stops a run: it is moved aside (``*.corrupt-<time>``) with a
warning naming both files, and the run goes on with a fresh cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import mask_url_password, redact
from ..models import Usage
from .base import Completion, CompletionRequest, Provider, ProviderConfig


def default_cache_path() -> Path:
    base = os.environ.get("CASSIA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cassia"
    )
    return Path(base) / "responses.sqlite"


@functools.lru_cache(maxsize=256)
def _schema_json(schema: type) -> str:
    return json.dumps(schema.model_json_schema(), sort_keys=True)  # once per model class, not per call


def _schema_of(schema: type) -> Any:
    return json.loads(_schema_json(schema))


def request_key(config: ProviderConfig, request: CompletionRequest) -> str:
    payload = {
        "provider": config.name,
        "kind": config.kind,
        "base_url": mask_url_password(config.base_url),  # the key never holds a password
        "model": config.model,
        "options": sorted((k, repr(v)) for k, v in config.options),  # e.g. an agent CLI's executable
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
        "system": request.system,
        "messages": [[m.role, m.content] for m in request.messages],
        "schema": _schema_of(request.schema) if request.schema else None,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        try:
            self._create()
        except sqlite3.DatabaseError as err:  # not a database, or a damaged one
            self._close_local()
            aside = move_aside(self.path)
            warnings.warn(f"the response cache {self.path} is damaged ({err}); moved it to {aside.name} and "
                          "started a fresh one. Delete the old file when you no longer need it; --no-cache "
                          "(use_cache=False) runs without a cache", stacklevel=2)
            self._create()

    def _create(self) -> None:
        conn = self._connect()
        conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)")
        conn.execute("SELECT COUNT(*) FROM responses").fetchone()  # reads the table: damage shows here

    def _close_local(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> dict | None:
        row = self._connect().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        self._connect().execute(
            "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
            (key, json.dumps(value), time.time()),
        )

    def stats(self) -> dict:
        count = self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        size = self.path.stat().st_size if self.path.exists() else 0
        return {"path": str(self.path), "entries": count, "bytes": size}


def move_aside(path: Path) -> Path:
    """Rename a damaged cache (and its WAL files) out of the way; returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            os.replace(part, aside.with_name(aside.name + suffix))
    return aside


def check_cache(path: str | Path) -> str | None:
    """What is wrong with the cache file at ``path`` (read-only check), or None when it is sound."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as err:
        return str(err)
    return None if verdict == "ok" else str(verdict)


class CachedProvider:
    """Wraps any provider; answers repeated requests from the cache (marked ``cached=True``).

    A hit costs nothing: its usage counts the original tokens as ``cached_tokens`` and its
    ``saved_usd`` is what the answer cost when it was first bought. Empty replies are never
    stored, and text is stored with every known secret masked.
    """

    def __init__(self, inner: Provider, cache: ResponseCache):
        self.inner = inner
        self.cache = cache
        self.config = inner.config

    async def complete(self, request: CompletionRequest) -> Completion:
        key = request_key(self.config, request)
        hit = self.cache.get(key)
        if hit is not None and (hit.get("text") or hit.get("parsed") is not None):
            parsed = request.schema.model_validate(hit["parsed"]) if request.schema and hit.get("parsed") else None
            original = Usage(**hit["usage"])
            return Completion(
                text=hit["text"], parsed=parsed, usage=Usage(cached_tokens=original.total), latency_s=0.0,
                model=hit["model"], provider=hit["provider"], cost_usd=0.0, saved_usd=hit.get("cost_usd"),
                cached=True,
            )
        completion = await self.inner.complete(request)
        if completion.text.strip() or completion.parsed is not None:
            self.cache.put(key, {
                "text": redact(completion.text),
                "parsed": completion.parsed.model_dump() if completion.parsed is not None else None,
                "usage": completion.usage.model_dump(),
                "model": completion.model,
                "provider": completion.provider,
                "cost_usd": completion.cost_usd,
            })
        return completion

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close:
            await close()
