"""Runs agent calls through provider batch APIs: each agent step of a run becomes one batch.

With ``batch_api=True`` (``--batch-api``) every cluster of the run starts at once; each agent
call of a cluster waits in a :class:`BatchDispatcher` instead of going out live. When every
running cluster is waiting (no one can make progress without an answer), the waiting calls go
out as one provider batch per backend: first all the Annotator calls, then the Validator calls,
and so on, step by step. Cache hits never reach the dispatcher (the response cache sits in
front of it). Answers come back as the bodies the live endpoints return, so structured output,
repair and validation work exactly as live; they cost half the list price.

Nothing is ever submitted twice: the journal (:mod:`cassia.workflows.batch_journal`) records
each batch before and after submission, and a resumed run replays its clusters, whose calls are
matched (by request hash, in order) to the batches already journaled: answers already saved
are used as they are, batches still running are polled again, and a batch whose submission
was cut off is looked up at the provider first. Requests that failed inside a batch for a
reason worth retrying (server error, expiry) go into the next batch, or live with
``retry="live"``, up to ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections import defaultdict, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from ..errors import CassiaError, InputError, ProviderError, TransientProviderError
from ..providers.batches import BatchItemResult, batch_client
from .batch_journal import BatchJournal, BatchRecord

__all__ = ["BatchDispatcher", "BatchOptions"]

POLL_FAILURES = 20  # consecutive failed polls of one batch before its clusters fail (resume goes on)


@dataclass
class BatchOptions:
    """How batch mode behaves: poll interval (s), where failed requests are retried, limits."""

    poll_interval: float = 30.0
    retry: str = "batch"  # "batch": in the next batch; "live": right away, at live prices
    max_attempts: int = 3
    max_requests: int = 50_000  # per provider batch (OpenAI's limit; Anthropic allows 100,000)

    def __post_init__(self) -> None:
        if self.retry not in ("batch", "live"):
            raise InputError(f"batch retry must be 'batch' or 'live' (got {self.retry!r})")
        if self.poll_interval <= 0 or self.max_attempts < 1 or self.max_requests < 1:
            raise InputError("batch poll_interval must be > 0, max_attempts and max_requests >= 1")

    @classmethod
    def of(cls, value: Any) -> BatchOptions | None:
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise InputError(f"batch_api must be True, False or a dict of options (got {value!r})")


def request_hash(provider: Any, url: str, body: dict) -> str:
    """What identifies a call across a kill: backend, endpoint and the exact body."""
    blob = json.dumps([provider.config.name, provider.config.base_url, url, body], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


@dataclass(eq=False)
class _Call:
    provider: Any  # the HttpProvider
    url: str
    body: dict
    hash: str
    future: asyncio.Future
    attempts: int = 1


class BatchDispatcher:
    """Collects the calls of waiting clusters into provider batches; see the module docstring."""

    def __init__(self, run_dir: str | Path, options: BatchOptions, *, progress: bool = True):
        self.options = options
        self.progress = progress
        self.journal = BatchJournal(run_dir)
        self.submitted = 0  # batches this process submitted (resumed ones are not counted)
        self._active = 0  # cluster jobs running
        self._blocked = 0  # calls waiting for an answer
        self._pending: list[_Call] = []
        self._claims: dict[str, deque[tuple[str, str]]] = defaultdict(deque)
        self._waiting: dict[tuple[str, str], _Call] = {}
        self._pollers: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._providers: dict[str, Any] = {}
        self._saved: dict[str, dict[str, BatchItemResult]] = {}
        self._kick_scheduled = False

    # ------------------------------------------------------------ set-up and tear-down

    async def start(self, providers: list[Any]) -> None:
        """Attach to the run's HTTP backends and find out what a killed earlier process left."""
        for provider in providers:
            client = batch_client(provider)  # refuses backends without a batch API
            client.provider.batcher = self
            self._providers[_key(client.provider.config.public())] = client
        for record in self.journal.records.values():
            if record.batch_id is None and not record.abandoned:
                await self._reconcile(record)
            if not record.abandoned:
                for custom_id, digest in record.requests:
                    self._claims[digest].append((record.local, custom_id))

    async def _reconcile(self, record: BatchRecord) -> None:
        """A submission cut off before its id was saved: adopt the batch if it exists, else forget it."""
        client = self._client(record)
        known = {r.batch_id for r in self.journal.records.values() if r.batch_id}
        found = await client.find(record.tag, record.created, len(record.requests), known)
        if found:
            self.journal.submitted(record, found)
        else:
            self.journal.abandoned(record, "the provider has no batch from this submission")

    def _client(self, record: BatchRecord):
        client = self._providers.get(_key(record.provider))
        if client is None:
            raise InputError(f"batch {record.local} of this run went to {record.provider.get('name')} "
                             f"({record.provider.get('model')}); resume the run with that backend")
        return client

    async def aclose(self) -> None:
        for task in [*self._pollers.values(), *self._tasks]:
            task.cancel()
        for client in self._providers.values():
            client.provider.batcher = None

    @asynccontextmanager
    async def job(self) -> AsyncIterator[None]:
        """Wrap one cluster's work: the dispatcher sends a batch once every job is waiting."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            self._kick()

    # ------------------------------------------------------------ one call

    async def post(self, provider: Any, url: str, body: dict) -> tuple[dict, float, bool]:
        """Stand-in for a live POST: (reply body, latency, answered by a batch)."""
        call = _Call(provider, url, body, request_hash(provider, url, body), asyncio.get_running_loop().create_future())
        self._blocked += 1
        self._place(call)
        self._kick()
        return await call.future

    def _place(self, call: _Call) -> None:
        """Into a journaled batch the same call went to before a kill, else into the next batch."""
        claims = self._claims.get(call.hash)
        if not claims:
            self._pending.append(call)
            return
        local, custom_id = claims.popleft()
        record = self.journal.records[local]
        if record.ended:
            if local not in self._saved:
                self._saved[local] = self.journal.results(local)
            item = self._saved[local].get(custom_id) or _missing(custom_id)
            asyncio.get_running_loop().call_soon(self._resolve, call, item)
            return
        self._waiting[(local, custom_id)] = call
        if local not in self._pollers:
            self._pollers[local] = self._spawn(self._poll(record))

    def _resolve(self, call: _Call, item: BatchItemResult) -> None:
        if call.future.done():
            return
        if item.ok:
            self._settle(call, result=(item.data, 0.0, True))
        elif item.retryable and call.attempts < self.options.max_attempts:
            call.attempts += 1
            if self.options.retry == "live":
                self._spawn(self._live(call))
            else:
                self._place(call)
        else:
            self._settle(call, error=_error(call.provider, item))
        self._kick()

    def _settle(self, call: _Call, *, result=None, error: BaseException | None = None) -> None:
        self._blocked -= 1
        if error is not None:
            call.future.set_exception(error)
        else:
            call.future.set_result(result)

    async def _live(self, call: _Call) -> None:
        try:
            data, latency = await call.provider.post_json(call.url, call.body)
        except CassiaError as err:
            self._settle(call, error=err)
        else:
            self._settle(call, result=(data, latency, False))
        self._kick()

    # ------------------------------------------------------------ batches

    def _kick(self) -> None:
        """Send the waiting calls once no running cluster can add another one.

        Checked after the event loop has run what is ready (twice over), so clusters that are
        about to start or to wake up are counted before a batch goes out.
        """
        if not self._kick_scheduled:
            self._kick_scheduled = True
            asyncio.get_running_loop().call_soon(self._check, 2)

    def _check(self, hops: int) -> None:
        if not self._pending or self._blocked < self._active:
            self._kick_scheduled = False
            return
        if hops > 1:
            asyncio.get_running_loop().call_soon(self._check, hops - 1)
            return
        self._kick_scheduled = False
        groups: dict[int, list[_Call]] = defaultdict(list)
        for call in self._pending:
            groups[id(call.provider)].append(call)
        self._pending = []
        for calls in groups.values():
            for start in range(0, len(calls), self.options.max_requests):
                self._spawn(self._submit(calls[start:start + self.options.max_requests]))

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _submit(self, calls: list[_Call]) -> None:
        provider = calls[0].provider
        client = self._providers[_key(provider.config.public())]
        record = self.journal.create(provider.config.public(), [(f"r{i:06d}", c.hash) for i, c in enumerate(calls)])
        try:
            batch_id = await client.submit([(cid, c.body) for (cid, _), c in zip(record.requests, calls)], record.tag)
        except TransientProviderError:  # it may have been created after all: ask before deciding
            try:
                await self._reconcile(record)
            except CassiaError as err:
                return self._fail(calls, err)
            if record.abandoned:
                return self._requeue(calls)
            batch_id = record.batch_id
        except CassiaError as err:
            self.journal.abandoned(record, f"{type(err).__name__}: {err}")
            return self._fail(calls, err)
        else:
            self.journal.submitted(record, batch_id)
        self.submitted += 1
        for (custom_id, _), call in zip(record.requests, calls):
            self._waiting[(record.local, custom_id)] = call
        self._say(f"batch {record.local}: {len(calls)} requests sent to {provider.config.name} as {batch_id}")
        await self._poll(record)

    def _requeue(self, calls: list[_Call]) -> None:
        self._pending.extend(calls)
        self._kick()

    def _fail(self, calls: list[_Call], err: BaseException) -> None:
        for call in calls:
            if not call.future.done():
                self._settle(call, error=err)
        self._kick()

    async def _poll(self, record: BatchRecord) -> None:
        client = self._client(record)
        waiting = lambda: [k for k in self._waiting if k[0] == record.local]  # noqa: E731
        failures = 0
        while True:
            try:
                state = await client.poll(record.batch_id)
                if state.status != record.state or state.counts != record.counts:
                    self.journal.state(record, state.status, state.counts)
                    self._say(f"batch {record.local} ({record.batch_id}): {state.describe()}")
                if state.ended:
                    items = await client.results(state)
                    break
            except TransientProviderError as err:
                failures += 1
                if failures > POLL_FAILURES:  # the run stops; --resume polls this batch again
                    return self._fail([self._waiting.pop(k) for k in waiting()], err)
                self._say(f"batch {record.local}: polling failed ({err}); trying again")
            except CassiaError as err:
                return self._fail([self._waiting.pop(k) for k in waiting()], err)
            await asyncio.sleep(self.options.poll_interval)
        self.journal.ended(record, state.status, items)
        by_id = {item.custom_id: item for item in items}
        for key in waiting():
            self._resolve(self._waiting.pop(key), by_id.get(key[1]) or _missing(key[1]))

    def _say(self, text: str) -> None:
        if self.progress:
            print(f"cassia: {text}", file=sys.stderr, flush=True)


def _key(public: dict[str, Any]) -> str:
    return json.dumps([public.get("name"), public.get("kind"), public.get("base_url"), public.get("model")])


def _missing(custom_id: str) -> BatchItemResult:
    return BatchItemResult(custom_id, retryable=True, error="the batch returned no result for this request")


def _error(provider: Any, item: BatchItemResult) -> ProviderError:
    """The error the live call would have raised, so agents handle both alike."""
    try:
        provider._raise_for_status(item.status or (502 if item.retryable else 400), f"in a batch: {item.error}", None)
    except ProviderError as err:
        return err
    return ProviderError(item.error)  # pragma: no cover (every status raises above)
