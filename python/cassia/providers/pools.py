"""The HTTP clients of one provider on one event loop: connection pools and the limit in flight.

A provider keeps one :class:`LoopState` per event loop (``asyncio.run`` may be called again and
again, e.g. from R); its clients are closed when that loop ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterator

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


async def _close_at_loop_end(clients: tuple[httpx.AsyncClient, ...]) -> AsyncIterator[None]:
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
    clients: tuple[httpx.AsyncClient, ...]
    semaphore: asyncio.Semaphore | None
    closer: Any
    busy: list[int] = field(default_factory=list)  # requests in flight per client

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, config: ProviderConfig,
             transport: httpx.AsyncBaseTransport | None) -> LoopState:
        n = config.max_concurrency  # None: no limit of our own, the run's workers decide
        clients = tuple(httpx.AsyncClient(
            transport=transport,
            verify=_shared_ssl_context() if transport is None else True,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_connections=None if n is None else max(100, n),
                                max_keepalive_connections=None if n is None else max(20, n)),
        ) for _ in range(POOLS if transport is None else 1))  # a given transport is one pool
        semaphore = asyncio.Semaphore(n) if n is not None else None
        return cls(loop, clients, semaphore, _close_at_loop_end(clients), [0] * len(clients))

    @property
    def client(self) -> httpx.AsyncClient:
        """The first client, for occasional requests (batch API files and polls)."""
        return self.clients[0]

    @contextlib.contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """The client with the fewest requests in flight, for one request."""
        pick = min(range(len(self.clients)), key=self.busy.__getitem__)
        self.busy[pick] += 1
        try:
            yield self.clients[pick]
        finally:
            self.busy[pick] -= 1
