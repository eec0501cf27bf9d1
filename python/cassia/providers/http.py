"""Shared HTTP behaviour of the OpenAI-compatible and Anthropic adapters.

One :class:`HttpProvider` base class holds what both wire protocols need: the private key, a
set of ``httpx.AsyncClient`` pools per event loop (:mod:`.pools`; ``asyncio.run`` may be called again
and again, e.g. from R), an optional limit on requests in flight (``max_concurrency``; none by default, the
run's workers bound it), retries with exponential backoff and jitter on 429/5xx/dropped
connections/empty replies honouring ``Retry-After``, connect and read timeouts plus a total
deadline per call, and errors from the tree in :mod:`cassia.errors` whose messages are
redacted and say what to do. It also negotiates with the server: the model's capabilities
(:mod:`.capabilities`) decide what is sent, a refused parameter is dropped or swapped and the
call sent again at once, and a refused structured-output mode steps down
json_schema -> json_object -> JSON in the prompt (Anthropic: tool -> prompt), remembered per
(server, model) (:mod:`.negotiate`). json_object sends the schema beside ``response_format``
(llama.cpp makes a grammar of it) until a reply shows the server ignored it; from then on the
schema goes into the prompt instead: never both.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from typing import Any, Callable

import httpx

from ..errors import AuthError, ProviderError, TransientProviderError, mask_url_password
from ..models import Message
from ..spelling import key_advice, spell
from . import pricing, structured
from .base import Completion, CompletionRequest, ProviderConfig
from .capabilities import Capabilities, capabilities_for
from .negotiate import STRUCTURED_PARAMETERS, Learned, ParameterRefused, learned_for, refused_parameter
from .pools import NO_LIMIT, LoopState
from .registry import is_local_url
from .structured import RawReply
from .wire import error_detail, error_text, parse_retry_after, snippet, usage_from

__all__ = ["HttpProvider", "parse_retry_after", "usage_from"]  # the last two re-exported from .wire

_STEPPABLE = ("temperature", "seed", "reasoning_effort", "token field", "cache_control")  # what a refusal may change


class _TimedOut(TransientProviderError):
    """A call that ran out of time: re-sent ``timeout_retries`` times, not ``max_retries``."""


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
        self._sleep = asyncio.sleep  # tests swap this to observe the delays
        # Set by a run in batch mode (workflows.batch_api.BatchDispatcher): calls wait for a
        # provider batch instead of going out live; ``batcher.post`` stands in for post_json.
        self.batcher: Any = None
        self._states: dict[int, LoopState] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        c = self.config
        return f"{type(self).__name__}(name={c.name!r}, model={c.model!r}, base_url={mask_url_password(c.base_url)!r})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} holds an API key and cannot be pickled; pass its config instead")

    # ------------------------------------------------------------ per-loop client and limit

    async def _state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            for key in [k for k, s in self._states.items() if s.loop.is_closed()]:
                del self._states[key]
            state = self._states.get(id(loop))
            if state is not None and state.loop is loop:
                return state
            state = LoopState.open(loop, self.config, self._transport)
            self._states[id(loop)] = state
        await state.closer.__anext__()  # start it so the loop tracks it
        return state

    async def aclose(self) -> None:
        """Close the HTTP clients of the running event loop (others close when their loop ends)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._states.pop(id(loop), None)
        if state is not None:
            await state.closer.aclose()

    # ------------------------------------------------------------ the protocol call

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_for(self.config.model)

    @property
    def learned(self) -> Learned:
        """What this (server, model) refused so far, shared by every instance talking to it."""
        return learned_for(self.config.base_url, self.config.model)

    def structured_modes(self) -> list[str]:
        """The structured-output modes to try, best first: the model's, minus those refused."""
        refused = self.learned.refused_modes
        modes = [m for m in self.capabilities.structured if m in self.modes and m not in refused]
        return modes if "prompt" in modes else [*modes, "prompt"]

    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer ``request``: free text, or a validated object when it names a schema."""
        option = request.max_tokens_option
        if request.schema is None:
            return self.finish(await structured.complete_text(self._sender(request, None), request, option))
        while True:
            mode = self.structured_modes()[0]
            wire = self.wire_mode(mode)
            send, first = structured.keeping_first(self._sender(request, wire))
            try:
                if wire in structured.NATIVE_MODES:
                    completion = await structured.complete_native(send, request, option)
                else:
                    completion = await structured.complete_json_in_prompt(send, request, option)
            except ParameterRefused as err:
                if mode == "prompt" or err.parameter not in STRUCTURED_PARAMETERS:
                    raise
                self.learned.refused_modes.add(mode)  # this (server, model) cannot do it: next mode
                continue
            finally:
                if wire == "grammar" and first and structured.schema_ignored(first[0], request.schema):
                    self.learned.grammar_ignored = True  # taken, not honoured: the schema goes into the prompt
            return self.finish(completion)

    def wire_mode(self, mode: str) -> str:
        """How ``mode`` goes out: json_object carries the schema beside it (``grammar``) unless the
        model's rule or the server's replies say it is ignored, then in the prompt."""
        if mode == "json_object" and self.capabilities.grammar and not self.learned.grammar_ignored:
            return "grammar"
        return mode

    def _sender(self, request: CompletionRequest, mode: str | None) -> structured.SendFn:
        async def send(messages: list[Message], system: str | None) -> RawReply:
            body = self.build_body(request, messages, system, mode=mode)
            for _ in range(len(_STEPPABLE) + 1):
                try:
                    if self.batcher is not None:
                        data, latency, batched = await self.batcher.post(self, self.endpoint, body)
                    else:
                        (data, latency), batched = await self.post_json(self.endpoint, body, check=self.reply_problem), False
                    break
                except ParameterRefused as err:
                    if err.parameter in STRUCTURED_PARAMETERS:
                        raise
                    # Drop or swap the refused parameter and send again at once (not a transient
                    # retry); a call in flight when another learned it just sends the new body.
                    self.learned.step(err.parameter, self.token_field())
                    again = self.build_body(request, messages, system, mode=mode)
                    if again == body:
                        raise ProviderError(str(err), status=err.status) from None
                    body = again
            else:  # pragma: no cover - every step removes a parameter, so this cannot loop
                raise ProviderError(f"{self._who()} kept refusing the request's parameters")
            reply = self.read_reply(data, latency)
            reply.batched = batched
            return reply

        return send

    def token_field(self) -> str:
        """The output-limit field to send: what the server asked for, else the model's."""
        return self.learned.token_field or self.capabilities.token_field

    def sends(self, parameter: str) -> bool:
        """Whether a sampling parameter goes out: the model takes it and the server did not refuse it."""
        return getattr(self.capabilities, parameter, True) is not False and parameter not in self.learned.dropped

    def output_limit(self, request: CompletionRequest) -> int | None:
        return request.max_tokens or self.config.max_tokens

    # Each wire protocol fills these in.
    endpoint: str
    modes: tuple[str, ...] = ("prompt",)  # the structured-output modes the protocol can carry

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def build_body(
        self, request: CompletionRequest, messages: list[Message], system: str | None, *, mode: str | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def read_reply(self, data: dict[str, Any], latency: float) -> RawReply:
        raise NotImplementedError

    def reply_problem(self, data: dict[str, Any]) -> str | None:
        """Why a decoded 200 reply cannot be used and is worth sending again (empty), else None."""
        return None

    # ------------------------------------------------------------ requests

    async def post_json(self, url: str, body: dict[str, Any], *,
                        check: Callable[[dict[str, Any]], str | None] | None = None) -> tuple[dict[str, Any], float]:
        """POST ``body``; return the decoded reply and its latency. Retries what is worth retrying.

        Faults (429, 5xx, dropped connections, an empty reply) are retried ``max_retries`` times;
        a call that timed out is sent again ``timeout_retries`` times; a refused parameter is
        raised at once (:class:`ParameterRefused`) for the caller to change the body.
        """
        state = await self._state()
        attempt = timeouts = 0
        while True:
            attempt += 1
            try:
                async with state.semaphore or NO_LIMIT:
                    with state.lease() as client:
                        started = time.perf_counter()
                        response = await self._send(client, url, body)
                        latency = time.perf_counter() - started
                data = self._decode(response, body)
                problem = check(data) if check is not None else None
                if problem:
                    raise TransientProviderError(f"{self._who()} {problem}", status=response.status_code)
                return data, latency
            except _TimedOut as err:
                timeouts += 1
                if timeouts > self.config.timeout_retries:
                    raise TransientProviderError(
                        f"{err} (sent {timeouts} times; raise the timeout, or timeout_retries to send it again)"
                    ) from None
                await self._sleep(self._delay(attempt, None))
            except TransientProviderError as err:
                if attempt - timeouts > self.config.max_retries:
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
        deadline = self.config.total_deadline
        try:
            # The read timeout bounds each silence; the deadline bounds the whole call, so a
            # server dripping a byte every half second cannot hold it past ``deadline``.
            return await asyncio.wait_for(client.post(url, json=body, headers=self._headers()), deadline)
        except asyncio.TimeoutError:
            # an unset deadline follows the timeout (3x), which is the option every interface has
            option = spell("deadline") if self.config.deadline is not None else spell("timeout")
            raise _TimedOut(f"{who} did not finish answering within the {deadline:g} s deadline; "
                            f"raise {option} if the model is slow") from None
        except httpx.ConnectTimeout:
            raise _TimedOut(f"{who} did not accept a connection within {self.config.connect_timeout:g} s; "
                            "check the server is running") from None
        except httpx.TimeoutException:
            raise _TimedOut(
                f"{who} did not answer within {self.config.timeout:g} s; raise {spell('timeout')} if the model is slow"
            ) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as err:
            raise TransientProviderError(
                f"lost the connection to {who} ({type(err).__name__}: {err}); check the server is running"
            ) from None
        except httpx.HTTPError as err:  # bad URL, unsupported protocol: retrying will not help
            raise ProviderError(f"could not call {who}: {type(err).__name__}: {err}") from None

    def _decode(self, response: httpx.Response, sent: dict[str, Any] | None = None) -> dict[str, Any]:
        status = response.status_code
        if not 200 <= status < 300:
            parameter = refused_parameter(status, response.text, sent or {})
            detail = error_detail(response)
            if parameter is not None:
                raise ParameterRefused(f"{self._who()} refused {parameter!r} (HTTP {status}: {detail})",
                                       parameter=parameter, status=status)
            self._raise_for_status(status, detail, response.headers.get("retry-after"))
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TransientProviderError(
                f"{self._who()} answered HTTP {status} with a body that is not JSON: {snippet(response.text)!r}",
                status=status,
            ) from None
        if not isinstance(data, dict):
            raise TransientProviderError(f"{self._who()} answered with JSON that is not an object", status=status)
        error = data.get("error")
        if error and "choices" not in data and "content" not in data:
            # Gateways such as OpenRouter may report an upstream failure inside a 200 reply.
            code = error.get("code") if isinstance(error, dict) else None
            self._raise_for_status(code if isinstance(code, int) and code >= 400 else 502, error_text(data), None)
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
        return f"{self.config.name} ({self.config.model} at {mask_url_password(self.config.base_url)})"

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
        cost = pricing.cost_usd(self.config.model, completion.usage, local=self.local, batch=completion.batched)
        # A reply without usage has an unknown cost (not $0), except on this machine.
        completion.cost_usd = cost if completion.usage_known or self.local else None
        return completion
