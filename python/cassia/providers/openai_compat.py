"""The OpenAI chat-completions adapter: OpenAI, OpenRouter, DeepSeek, Ollama, vLLM, LM Studio, any URL.

Wire format: ``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>`` (no
header at all for a local server without a key). What goes into a body follows the model's
capabilities (:mod:`.capabilities`) and what the server refused before (:mod:`.negotiate`):
the token-limit field, temperature and seed. Structured requests step down through
``response_format`` json_schema, then json_object, then JSON in the prompt. In json_object mode
the schema goes beside ``response_format`` (wire mode ``grammar``: llama.cpp's servers hold the
reply to it) or, for servers that ignore it, into the prompt: each request carries it once.
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelOutputError
from ..models import Message, Usage
from . import structured
from .base import CompletionRequest
from .http import HttpProvider, usage_from
from .structured import RawReply

__all__ = ["OpenAICompatProvider"]


class OpenAICompatProvider(HttpProvider):
    """Any server that speaks the OpenAI chat-completions protocol."""

    modes = ("json_schema", "json_object", "prompt")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    @property
    def endpoint(self) -> str:
        return f"{self.config.base_url}/chat/completions"

    def build_body(
        self, request: CompletionRequest, messages: list[Message], system: str | None, *, mode: str | None = None
    ) -> dict[str, Any]:
        if request.schema is not None and mode == "grammar":
            # The server holds the reply to the schema; the prompt names what to write (servers
            # that follow OpenAI's json_object rule want the word JSON in it) and no more.
            note = f"Answer with one {structured.schema_name(request.schema)} JSON object."
            system = f"{system}\n\n{note}" if system else note
        wire = [{"role": "system", "content": system}] if system else []
        wire += [{"role": m.role, "content": m.content} for m in messages]
        body: dict[str, Any] = {"model": self.config.model, "messages": wire}
        if request.temperature is not None and self.sends("temperature"):
            body["temperature"] = request.temperature
        if request.seed is not None and self.sends("seed"):
            body["seed"] = request.seed
        effort = dict(self.config.options).get("reasoning_effort")
        if effort and self.sends("reasoning_effort"):
            body["reasoning_effort"] = effort
        limit = self.output_limit(request)
        if limit is not None:
            body[self.token_field()] = limit
        if request.schema is not None and mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": structured.schema_name(request.schema),
                    "schema": structured.strict_schema(request.schema),
                    "strict": True,
                },
            }
        elif request.schema is not None and mode == "grammar":
            body["response_format"] = {"type": "json_object", "schema": structured.strict_schema(request.schema)}
        elif request.schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object"}  # the schema is in the prompt: once is enough
        return body

    def reply_problem(self, data: dict[str, Any]) -> str | None:
        choices = data.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        empty = not (message.get("content") or "").strip() and not message.get("refusal")
        if choices and empty and choice.get("finish_reason") != "length":
            return "answered HTTP 200 with an empty reply"
        return None

    def read_reply(self, data: dict[str, Any], latency: float) -> RawReply:
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise ModelOutputError(f"{self._who()} answered without any choices; check the model name")
        choice = choices[0]
        message = choice.get("message") or {}
        text = message.get("content")
        if text is None and message.get("refusal"):
            raise ModelOutputError(f"the model refused to answer: {message['refusal']}")
        raw = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        details = raw.get("prompt_tokens_details") if isinstance(raw.get("prompt_tokens_details"), dict) else {}
        # OpenAI reports prompt-cache hits in prompt_tokens_details, DeepSeek as prompt_cache_hit_tokens.
        cached = details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0
        usage = usage_from(data, "prompt_tokens", "completion_tokens", cached)
        return RawReply(
            text=text or "",
            usage=usage or Usage(),
            usage_known=usage is not None,
            latency_s=latency,
            model=str(data.get("model") or self.config.model),
            truncated=choice.get("finish_reason") == "length",
        )
