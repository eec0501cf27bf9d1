"""A fake OpenAI/Anthropic-compatible LLM server on 127.0.0.1, for tests, vignettes and demos.

It speaks ``POST /v1/chat/completions``, ``POST /v1/messages`` and ``GET /v1/models``, counts
tokens roughly (characters / 4), honours ``response_format`` json_schema and Anthropic forced
tools, imitates prompt caching (:mod:`.fake_cache`), and can be scripted (``script``,
``add_rule``) or told to misbehave (``fail_next``, ``slow_next``, ``malformed_next``, ``truncate_next``, ``garble_next``, ``empty_next``,
``drip_next``, ``reject_response_format``, ``ignore_response_format`` (answers prose unless the
prompt holds the schema), ``omit_usage``). ``vendor=`` makes it refuse what a real service
refuses, in its words (:mod:`.fake_vendors`); ``refused`` counts the refusals it served.
Every request is recorded with its headers in ``requests``.

From the command line (R tests and vignettes)::

    python -m cassia.testing.fake_server --port 0 --latency 0 [--vendor llama-cpp]

prints the OpenAI-style base URL on the first line of stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel

from .fake_batches import FakeBatches
from .fake_cache import PromptCache
from .fake_http import Answer, Handler, Server, json_answer
from .fake_replies import default_text, example_for, schema_in_prompt
from .fake_request import FakeRequest
from .fake_vendors import IGNORE_GRAMMAR, VENDOR_MODES, vendor_refusal

__all__ = ["FakeLLMServer", "FakeRequest", "main"]

Reply = Any  # str | dict | list | BaseModel | Callable[[FakeRequest], Any]


@dataclass
class _Rule:
    match: str | Callable[[FakeRequest], bool]
    reply: Reply
    times: int | None

    def matches(self, request: FakeRequest) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        return self.match in request.text if isinstance(self.match, str) else bool(self.match(request))


@dataclass
class _Fault:
    kind: str  # status | slow | malformed | truncate | garble | empty | drip
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0


class FakeLLMServer:
    """The fake server. Use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, *, port: int = 0, latency: float = 0.0, api_key: str | None = None,
                 reject_response_format: bool = False, vendor: str | None = None,
                 ignore_response_format: bool = False, omit_usage: bool = False):
        if vendor is not None and vendor not in VENDOR_MODES:
            raise ValueError(f"unknown vendor mode {vendor!r}; use one of {', '.join(VENDOR_MODES)}")
        self.latency = latency
        self.api_key = api_key  # when set, requests without it get 401
        self.reject_response_format = reject_response_format
        self.vendor = vendor
        self.ignore_response_format = ignore_response_format  # a gateway that drops it: prose back
        self.omit_usage = omit_usage  # replies without token counts
        self.refused = 0  # requests refused by the vendor mode or reject_response_format
        self.requests: list[FakeRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._port = port
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._queue: list[Reply] = []
        self._faults: list[_Fault] = []
        self._fail_when: list[tuple[str, int]] = []  # (text, status): requests containing it fail
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self.batches: FakeBatches | None = None  # the batch APIs, once enable_batches() is called
        self.prompt_cache = PromptCache()  # providers' prompt caching, imitated (min_tokens=None: off)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> "FakeLLMServer":
        if self._httpd is not None:
            return self
        handler = type("Handler", (Handler,), {"fake": self})
        httpd = Server(("127.0.0.1", self._port), handler)
        self._httpd = httpd
        # A short poll interval keeps stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cassia-fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for OpenAI-style clients (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        """Base URL for Anthropic-style clients (they add /v1/messages)."""
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"FakeLLMServer({where}, requests={len(self.requests)})"

    # ------------------------------------------------------------ scripting

    def add_rule(self, match: str | Callable[[FakeRequest], bool], reply: Reply, *, times: int | None = None) -> None:
        """Answer requests whose text contains ``match`` (or for which it returns True) with ``reply``.

        A dict reply is the JSON object for structured requests; a str is the raw reply text.
        Rules are tried in the order added; ``times`` limits how often one may fire.
        """
        with self._lock:
            self._rules.append(_Rule(match, reply, times))

    def script(self, replies: list[Reply]) -> None:
        """Queue replies used first-in first-out before any rule or default."""
        with self._lock:
            self._queue.extend(replies)

    def fail_next(self, n: int = 1, status: int = 429, retry_after: float | None = 1) -> None:
        """The next ``n`` completion requests fail with ``status`` (and a Retry-After header if given)."""
        self._add_faults(n, _Fault("status", status=status, retry_after=retry_after))

    def fail_when(self, text: str, status: int = 400) -> None:
        """Every completion request whose text contains ``text`` fails with ``status``, for good
        (e.g. one cluster's marker gene: that cluster fails, the others succeed)."""
        with self._lock:
            self._fail_when.append((text, status))

    def slow_next(self, n: int = 1, delay: float = 1.0) -> None:
        """The next ``n`` replies wait ``delay`` seconds more than the normal latency."""
        self._add_faults(n, _Fault("slow", delay=delay))

    def malformed_next(self, n: int = 1) -> None:
        """The next ``n`` replies carry broken JSON as the model's content."""
        self._add_faults(n, _Fault("malformed"))

    def truncate_next(self, n: int = 1) -> None:
        """The next ``n`` replies stop at the token limit (finish_reason "length") half-way through."""
        self._add_faults(n, _Fault("truncate"))

    def garble_next(self, n: int = 1) -> None:
        """The next ``n`` responses are HTTP 200 with a body that is not JSON at all."""
        self._add_faults(n, _Fault("garble"))

    def empty_next(self, n: int = 1) -> None:
        """The next ``n`` replies are HTTP 200 with empty content (finish_reason "stop")."""
        self._add_faults(n, _Fault("empty"))

    def drip_next(self, n: int = 1, interval: float = 0.5) -> None:
        """The next ``n`` replies send their body one byte every ``interval`` seconds."""
        self._add_faults(n, _Fault("drip", delay=interval))

    def _add_faults(self, n: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    def reset(self) -> None:
        """Forget recorded requests, rules, queued replies and faults."""
        with self._lock:
            self.requests.clear()
            self._rules.clear()
            self._queue.clear()
            self._faults.clear()
            self._fail_when.clear()
            self.max_in_flight = 0
            self.refused = 0

    def enable_batches(self, **options: Any) -> FakeBatches:
        """Also serve the OpenAI Batch and Anthropic Message Batches APIs (:mod:`.fake_batches`)."""
        self.batches = FakeBatches(self, **options)
        return self.batches

    # ------------------------------------------------------------ answering

    def _answer(self, request: FakeRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            if request.method == "GET":
                if request.path.rstrip("/") == "/v1/models":
                    return json_answer(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                return json_answer(404, {"error": {"message": f"no such endpoint {request.path}"}})
            if request.path.rstrip("/") not in ("/v1/chat/completions", "/v1/messages"):
                return json_answer(404, {"error": {"message": f"no such endpoint {request.path}"}})
            fault = self._faults.pop(0) if self._faults else None
            for text, status in self._fail_when:
                if fault is None and text in request.text:
                    fault = _Fault("status", status=status)
            refusal = self._refusal(request)
            self.refused += refusal is not None and refusal.status != 401
            reply = None if refusal or (fault and fault.kind in ("status", "garble")) else self._pick(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.latency + (fault.delay if fault and fault.kind == "slow" else 0.0))
            if refusal:
                return refusal
            if fault and fault.kind == "status":
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                message = "rate limit reached" if fault.status == 429 else "the fake server failed on purpose"
                return json_answer(fault.status, {"type": "error", "error": {"type": "fake_fault", "message": message}},
                             headers)
            if fault and fault.kind == "garble":
                return Answer(200, b"<html>upstream proxy error</html>", {"Content-Type": "text/html"})
            answer = self._render(request, reply, fault.kind if fault else None)
            if fault and fault.kind == "drip":
                answer.drip = fault.delay
            return answer
        finally:
            with self._lock:
                self.in_flight -= 1

    def _refusal(self, request: FakeRequest) -> Answer | None:
        if self.api_key is not None:
            sent = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
            if sent != self.api_key:
                return json_answer(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid API key"}})
        body = request.body if isinstance(request.body, dict) else {}
        if self.reject_response_format and (body.get("response_format") or body.get("tools")):
            return json_answer(400, {"error": {"type": "invalid_request_error",
                                               "message": "response_format json_schema (and tools) are not supported"}})
        refusal = vendor_refusal(self.vendor, body) if self.vendor else None
        return json_answer(*refusal) if refusal else None

    def _pick(self, request: FakeRequest) -> Any:
        """Scripted reply, else the first matching rule, else the default. Called under the lock."""
        if self._queue:
            return _resolve(self._queue.pop(0), request)
        for rule in self._rules:
            if rule.matches(request):
                if rule.times is not None:
                    rule.times -= 1
                return _resolve(rule.reply, request)
        if self.ignore_response_format:  # only a schema written into the prompt is seen
            in_prompt = schema_in_prompt(request.text)
            wanted = (in_prompt, in_prompt.get("title")) if in_prompt is not None else None
        else:
            wanted = request.schema(grammar=self.vendor not in IGNORE_GRAMMAR)
        if wanted is not None:
            return example_for(*wanted)
        return default_text(request.last_user)

    def _render(self, request: FakeRequest, reply: Any, fault: str | None) -> Answer:
        text = reply if isinstance(reply, str) else json.dumps(reply)
        if fault in ("malformed", "truncate"):
            text = text[: max(1, len(text) // 2)]
        if fault == "empty":
            text, reply = "", ""
        body = request.body if isinstance(request.body, dict) else {}
        usage_in = max(1, len(request.text) // 4)
        usage_out = max(1, len(text) // 4)
        model = str(body.get("model") or "fake-model")
        number = next(self._ids)
        if request.protocol == "anthropic":
            tool_input = None
            if body.get("tools") and fault in (None, "drip") and not self.ignore_response_format:
                tool_input = reply if isinstance(reply, dict) else _json_object(text)
            if tool_input is not None:
                name = (body.get("tool_choice") or {}).get("name") or body["tools"][0].get("name")
                content = [{"type": "tool_use", "id": f"toolu_fake_{number}", "name": name, "input": tool_input}]
                stop = "tool_use"
            else:
                content = [{"type": "text", "text": text}]
                stop = "max_tokens" if fault == "truncate" else "end_turn"
            return json_answer(200, {
                "id": f"msg_fake_{number}", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop, "stop_sequence": None,
                **({} if self.omit_usage else {"usage": self.prompt_cache.anthropic_usage(request, usage_in, usage_out)}),
            })
        return json_answer(200, {
            "id": f"chatcmpl-fake-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if fault == "truncate" else "stop"}],
            **({} if self.omit_usage else {"usage": {
                "prompt_tokens": usage_in, "completion_tokens": usage_out, "total_tokens": usage_in + usage_out,
                "prompt_tokens_details": {"cached_tokens": self.prompt_cache.openai_cached(request)}}}),
        })


def _resolve(reply: Reply, request: FakeRequest) -> Any:
    if callable(reply) and not isinstance(reply, type):
        reply = reply(request)
    if isinstance(reply, BaseModel):
        return reply.model_dump(mode="json")
    return reply


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cassia.testing.fake_server",
        description="Serve a fake OpenAI/Anthropic-compatible LLM on 127.0.0.1 until killed. "
                    "Prints the OpenAI-style base URL on the first line of stdout.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each reply")
    parser.add_argument("--api-key", default=None, help="answer 401 unless requests carry this key")
    parser.add_argument("--reject-response-format", action="store_true",
                        help="answer 400 to structured-output requests, like servers without schema support")
    parser.add_argument("--vendor", choices=VENDOR_MODES, default=None,
                        help="refuse what this real service refuses, with its status codes and error bodies")
    parser.add_argument("--ignore-response-format", action="store_true",
                        help="ignore response_format and tools, like a gateway that drops them (answers prose)")
    parser.add_argument("--omit-usage", action="store_true", help="send replies without token counts")
    parser.add_argument("--fail-when", action="append", default=[], metavar="TEXT",
                        help="answer 400 to every request whose text contains TEXT (repeatable)")
    parser.add_argument("--batch-time-scale", type=float, default=None, metavar="X",
                        help="also serve the batch APIs, X emulated seconds per real second")
    args = parser.parse_args(argv)
    server = FakeLLMServer(port=args.port, latency=args.latency, api_key=args.api_key,
                           reject_response_format=args.reject_response_format, vendor=args.vendor,
                           ignore_response_format=args.ignore_response_format, omit_usage=args.omit_usage).start()
    if args.batch_time_scale is not None:
        server.enable_batches(time_scale=args.batch_time_scale)
    for text in args.fail_when:
        server.fail_when(text)
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
