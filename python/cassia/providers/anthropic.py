"""The Anthropic Messages adapter.

Wire format: ``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``
headers; the system prompt is a top-level field and ``max_tokens`` is required. Structured
output uses a forced tool whose ``input_schema`` is the model's schema; the answer is the
``tool_use`` block's input. A server that refuses tools gets JSON-in-prompt (remembered per
server and model, :mod:`.negotiate`). ``max_tokens`` is always sent; temperature only where
the model's capabilities and the server allow it; never a seed or ``response_format``.

Prompt caching: Anthropic caches a prefix only where the request marks it, so every request
carries ``cache_control: {"type": "ephemeral"}`` breakpoints on the tool (its schema), on the
system prompt (the two are the same in every call of a stage, across clusters), and, in a
conversation already under way (a revision round, a boost round, a repair), on its latest turn,
so the next turn reads the whole history from the cache. Anthropic ignores a breakpoint on a
prefix below its minimum (1,024 tokens for most models), and a server that refuses the field
gets requests without it from then on (:mod:`.negotiate`). Cache reads come back as
``cache_read_input_tokens`` and are priced at the cached rate; cache writes
(``cache_creation_input_tokens``) at the model's cache-write price (1.25 times input).
"""

from __future__ import annotations

import json
from typing import Any

from ..models import Message, Usage
from . import structured
from .base import CompletionRequest
from .http import HttpProvider, usage_from
from .structured import RawReply

__all__ = ["ANTHROPIC_VERSION", "AnthropicProvider"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
EPHEMERAL = {"type": "ephemeral"}  # a prompt-cache breakpoint (Anthropic's default 5-minute cache)


class AnthropicProvider(HttpProvider):
    """Claude models through the Messages API (or a server that imitates it)."""

    modes = ("tool", "prompt")

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    @property
    def endpoint(self) -> str:
        base = self.config.base_url or ""
        return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"

    def build_body(
        self, request: CompletionRequest, messages: list[Message], system: str | None, *, mode: str | None = None
    ) -> dict[str, Any]:
        # The Messages API has no "system" role: such messages join the top-level system field.
        systems = [system] if system else []
        systems += [m.content for m in messages if m.role == "system"]
        wire: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
        cache = self.sends("cache_control")
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": self.output_limit(request) or DEFAULT_MAX_TOKENS,  # required by the API
            "messages": wire,
        }
        if systems:
            text = "\n\n".join(systems)
            body["system"] = [{"type": "text", "text": text, "cache_control": EPHEMERAL}] if cache else text
        if cache and any(m["role"] == "assistant" for m in wire):  # a conversation under way
            last = wire[-1]
            wire[-1] = {**last, "content": [{"type": "text", "text": last["content"], "cache_control": EPHEMERAL}]}
        if request.temperature is not None and self.sends("temperature"):
            body["temperature"] = request.temperature
        if mode == "tool" and request.schema is not None:
            name = structured.schema_name(request.schema)
            description = (request.schema.__doc__ or "").strip() or f"Record the answer as a {name}."
            schema = structured.strict_schema(request.schema)
            schema.pop("description", None)  # the tool's description says it already: not twice
            tool: dict[str, Any] = {"name": name, "description": description, "input_schema": schema}
            if cache:
                tool["cache_control"] = EPHEMERAL
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "tool", "name": name}
        return body

    def reply_problem(self, data: dict[str, Any]) -> str | None:
        blocks = [b for b in data.get("content") or [] if isinstance(b, dict)]
        said = any(b.get("type") == "tool_use" or str(b.get("text") or "").strip() for b in blocks)
        if not said and data.get("stop_reason") != "max_tokens":
            return "answered HTTP 200 with an empty reply"
        return None

    def read_reply(self, data: dict[str, Any], latency: float) -> RawReply:
        blocks = [b for b in data.get("content") or [] if isinstance(b, dict)]
        tool_inputs = [b.get("input") for b in blocks if b.get("type") == "tool_use"]
        texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
        tool_input = tool_inputs[0] if tool_inputs else None
        usage = _usage(data)
        return RawReply(
            text=json.dumps(tool_input) if tool_input is not None else "".join(texts),
            usage=usage or Usage(),
            usage_known=usage is not None,
            latency_s=latency,
            model=str(data.get("model") or self.config.model),
            truncated=data.get("stop_reason") == "max_tokens",
            data=tool_input,
        )


def _usage(data: dict[str, Any]) -> Usage | None:
    """Anthropic counts prompt-cache reads and writes apart from ``input_tokens``: add them in."""
    usage = usage_from(data, "input_tokens", "output_tokens")
    raw = data.get("usage")
    if usage is None or not isinstance(raw, dict):
        return usage
    read = int(raw.get("cache_read_input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    return usage.model_copy(update={"input_tokens": usage.input_tokens + read + written,
                                    "input_cached_tokens": read, "input_cache_write_tokens": written})
