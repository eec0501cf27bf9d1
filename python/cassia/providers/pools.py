"""The HTTP clients of one provider on one event loop: connection pools and the limit in flight.

A provider keeps one :class:`LoopState` per event loop (``asyncio.run`` may be called again and
again, e.g. from R); its clients are closed when that loop ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator

import httpx

from .base import ProviderConfig

# Connection pools per event loop. httpcore's pool does work quadratic in its connections on
# every request and every reply (encode/httpcore#1035): at 32 requests in flight that was ~40% of
# the client's CPU in a profile of 1,000 clusters. Each request takes the least busy pool, so
# pools hold a few connections each, and one request at a time stays on one warm connection.
POOLS = 8


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


NO_LIMIT = _NoLimit()


async def _close_at_loop_end(clients: list[httpx.AsyncClient]) -> AsyncIterator[None]:
    # A suspended async generator: asyncio.run() finalises it in shutdown_asyncgens(), which
    # closes the clients on the loop that owns their connections.
    try:
        yield
    finally:
        for client in clients:
            await client.aclose()


_ssl_context: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds; do it once, not per event loop.
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


@dataclass
class LoopState:
    loop: asyncio.AbstractEventLoop
    make: Callable[[], httpx.AsyncClient]
    pools: int  # at most this many clients
    semaphore: asyncio.Semaphore | None
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)  # requests in flight per client
    closer: Any = None

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, config: ProviderConfig,
             transport: httpx.AsyncBaseTransport | None) -> LoopState:
        n = config.max_concurrency  # None: no limit of our own, the run's workers decide

        def make() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=transport,
                verify=_shared_ssl_context() if transport is None else True,
                timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
                limits=httpx.Limits(max_connections=None if n is None else max(100, n),
                                    max_keepalive_connections=None if n is None else max(20, n)),
            )

        state = cls(loop, make, POOLS if transport is None else 1,  # a given transport is one pool
                    asyncio.Semaphore(n) if n is not None else None)
        state.closer = _close_at_loop_end(state.clients)
        return state

    @property
    def client(self) -> httpx.AsyncClient:
        """The first client, for occasional requests (batch API files and polls)."""
        return self.clients[0] if self.clients else self._add()

    def _add(self) -> httpx.AsyncClient:
        # made when first needed: a client takes ~15 ms to make, and one request at a time needs one
        self.clients.append(self.make())
        self.busy.append(0)
        return self.clients[-1]

    @contextlib.contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """The client with the fewest requests in flight (a new one while all are busy), for one request."""
        if (not self.busy or min(self.busy) > 0) and len(self.clients) < self.pools:
            self._add()
        pick = min(range(len(self.clients)), key=self.busy.__getitem__)
        self.busy[pick] += 1
        try:
            yield self.clients[pick]
        finally:
            self.busy[pick] -= 1
