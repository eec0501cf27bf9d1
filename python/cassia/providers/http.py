"""Shared HTTP behaviour of the OpenAI-compatible and Anthropic adapters.

One :class:`HttpProvider` base class holds what both wire protocols need: the private key, an
``httpx.AsyncClient`` and a semaphore per event loop (so ``asyncio.run`` may be called again
and again, e.g. from R), a limit on requests in flight, retries with exponential backoff and
jitter on 429/5xx/timeouts/dropped connections honouring ``Retry-After``, and errors from the
tree in :mod:`cassia.errors` whose messages are redacted and say what to do.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx

from ..errors import AuthError, ProviderError, TransientProviderError, redact
from ..models import Message, Usage
from ..spelling import key_advice
from . import pricing, structured
from .base import Completion, CompletionRequest, ProviderConfig
from .registry import is_local_url
from .structured import RawReply

__all__ = ["HttpProvider", "parse_retry_after", "usage_from"]

_SNIPPET = 400  # characters of a server's error body quoted in our messages


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP-date form), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _close_at_loop_end(client: httpx.AsyncClient) -> AsyncIterator[None]:
    # A suspended async generator: asyncio.run() finalises it in shutdown_asyncgens(), which
    # closes the client on the loop that owns its connections.
    try:
        yield
    finally:
        await client.aclose()


_ssl_context: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds; do it once, not per event loop.
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


@dataclass
class _LoopState:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    semaphore: asyncio.Semaphore
    closer: Any


class HttpProvider:
    """Base class of the HTTP adapters. Subclasses build requests and read replies."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.config = config
        self._api_key = api_key  # never in config, repr or messages
        self._transport = transport
        options = dict(config.options)
        self.backoff_base = float(options.get("backoff_base", 0.5))
        self.backoff_max = float(options.get("backoff_max", 30.0))
        self.max_retry_after = float(options.get("max_retry_after", 60.0))
        self.local = is_local_url(config.base_url)
        self.schema_supported = True  # False once the server refused schema-constrained output
        self._sleep = asyncio.sleep  # tests swap this to observe the delays
        # Set by a run in batch mode (workflows.batch_api.BatchDispatcher): calls wait for a
        # provider batch instead of going out live; ``batcher.post`` stands in for post_json.
        self.batcher: Any = None
        self._states: dict[int, _LoopState] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        c = self.config
        return f"{type(self).__name__}(name={c.name!r}, model={c.model!r}, base_url={c.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} holds an API key and cannot be pickled; pass its config instead")

    # ------------------------------------------------------------ per-loop client and limit

    async def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            for key in [k for k, s in self._states.items() if s.loop.is_closed()]:
                del self._states[key]
            state = self._states.get(id(loop))
            if state is not None and state.loop is loop:
                return state
            n = self.config.max_concurrency
            client = httpx.AsyncClient(
                transport=self._transport,
                verify=_shared_ssl_context() if self._transport is None else True,
                timeout=httpx.Timeout(self.config.timeout),
                limits=httpx.Limits(max_connections=max(100, n), max_keepalive_connections=max(20, n)),
            )
            state = _LoopState(loop, client, asyncio.Semaphore(n), _close_at_loop_end(client))
            self._states[id(loop)] = state
        await state.closer.__anext__()  # start it so the loop tracks it
        return state

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop (others close when their loop ends)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._states.pop(id(loop), None)
        if state is not None:
            await state.closer.aclose()

    # ------------------------------------------------------------ the protocol call

    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer ``request``: free text, or a validated object when it names a schema."""
        if request.schema is None:
            return self.finish(await structured.complete_text(self._sender(request), request))
        if self.schema_supported:
            try:
                return self.finish(await structured.complete_native(self._sender(request, native=True), request))
            except ProviderError as err:
                if not structured.is_schema_rejection(err):
                    raise
                self.schema_supported = False  # for the rest of this instance's life
        return self.finish(await structured.complete_json_in_prompt(self._sender(request), request))

    def _sender(self, request: CompletionRequest, *, native: bool = False) -> structured.SendFn:
        async def send(messages: list[Message], system: str | None) -> RawReply:
            body = self.build_body(request, messages, system, native=native)
            if self.batcher is not None:
                data, latency, batched = await self.batcher.post(self, self.endpoint, body)
            else:
                (data, latency), batched = await self.post_json(self.endpoint, body), False
            reply = self.read_reply(data, latency)
            reply.batched = batched
            return reply

        return send

    # Each wire protocol fills in these four.
    endpoint: str

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def build_body(
        self, request: CompletionRequest, messages: list[Message], system: str | None, *, native: bool
    ) -> dict[str, Any]:
        raise NotImplementedError

    def read_reply(self, data: dict[str, Any], latency: float) -> RawReply:
        raise NotImplementedError

    # ------------------------------------------------------------ requests

    async def post_json(self, url: str, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """POST ``body``; return the decoded reply and its latency. Retries what is worth retrying."""
        state = await self._state()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with state.semaphore:
                    started = time.perf_counter()
                    response = await self._send(state.client, url, body)
                    latency = time.perf_counter() - started
                return self._decode(response), latency
            except TransientProviderError as err:
                if attempt > self.config.max_retries:
                    raise TransientProviderError(
                        f"{err} (gave up after {attempt} attempts; try again later, or lower the "
                        f"concurrency or raise max_retries)",
                        status=err.status,
                        retry_after=err.retry_after,
                    ) from None
                await self._sleep(self._delay(attempt, err.retry_after))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the server said when; add a little jitter to spread clients
            return min(retry_after, self.max_retry_after) + random.uniform(0, self.backoff_base / 4)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def _send(self, client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> httpx.Response:
        who = self._who()
        try:
            return await client.post(url, json=body, headers=self._headers())
        except httpx.TimeoutException:
            raise TransientProviderError(
                f"{who} did not answer within {self.config.timeout:g} s; raise timeout= if the model is slow"
            ) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as err:
            raise TransientProviderError(
                f"lost the connection to {who} ({type(err).__name__}: {err}); check the server is running"
            ) from None
        except httpx.HTTPError as err:  # bad URL, unsupported protocol: retrying will not help
            raise ProviderError(f"could not call {who}: {type(err).__name__}: {err}") from None

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if not 200 <= status < 300:
            self._raise_for_status(status, _error_detail(response), response.headers.get("retry-after"))
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TransientProviderError(
                f"{self._who()} answered HTTP {status} with a body that is not JSON: {_snippet(response.text)!r}",
                status=status,
            ) from None
        if not isinstance(data, dict):
            raise TransientProviderError(f"{self._who()} answered with JSON that is not an object", status=status)
        error = data.get("error")
        if error and "choices" not in data and "content" not in data:
            # Gateways such as OpenRouter may report an upstream failure inside a 200 reply.
            code = error.get("code") if isinstance(error, dict) else None
            self._raise_for_status(code if isinstance(code, int) and code >= 400 else 502, _error_text(data), None)
        return data

    def _raise_for_status(self, status: int, detail: str, retry_after_header: str | None) -> None:
        if status in (401, 403):
            raise AuthError(f"{self._who()} refused the request (HTTP {status}: {detail}). {self._key_hint()}",
                            status=status)
        if status in (408, 429) or status >= 500:  # rate limits, overload, server faults
            raise TransientProviderError(f"{self._who()} answered HTTP {status}: {detail}",
                                         status=status, retry_after=parse_retry_after(retry_after_header))
        if status == 404:
            raise ProviderError(
                f"{self._who()} answered HTTP 404: {detail}. Check the model name and the base URL",
                status=status,
            )
        raise ProviderError(f"{self._who()} rejected the request (HTTP {status}: {detail})", status=status)

    def _who(self) -> str:
        return f"{self.config.name} ({self.config.model} at {self.config.base_url})"

    def _key_hint(self) -> str:
        env = self.config.key_env or "CASSIA_API_KEY"
        if self._api_key is None:
            return f"The server wants a key: {key_advice(self.config.name, env)}."
        return f"Check the key in {env} (or the one given to set_api_key() or api_key=) and its access to this model."

    # ------------------------------------------------------------ results

    def finish(self, completion: Completion) -> Completion:
        """Stamp provider, model and cost on a completion built from replies."""
        completion.provider = self.config.name
        completion.model = completion.model or self.config.model
        completion.cost_usd = pricing.cost_usd(self.config.model, completion.usage, local=self.local,
                                               batch=completion.batched)
        return completion


def usage_from(data: dict[str, Any], input_field: str, output_field: str) -> Usage:
    raw = data.get("usage") or {}
    return Usage(input_tokens=int(raw.get(input_field) or 0), output_tokens=int(raw.get(output_field) or 0))


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return redact(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))


def _error_detail(response: httpx.Response) -> str:
    """The server's own error message when it sent one in the usual JSON shape, else the body."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _snippet(response.text) or response.reason_phrase
    return _error_text(data)


def _error_text(data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return _snippet(str(error["message"]))
    if isinstance(error, str):
        return _snippet(error)
    return _snippet(json.dumps(data))
