"""The OpenAI chat-completions adapter: OpenAI, OpenRouter, DeepSeek, Ollama, vLLM, LM Studio, any URL.

Wire format: ``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>`` (no
header at all for a local server without a key). Structured requests carry
``response_format = {"type": "json_schema", "json_schema": {name, schema, strict: true}}``;
when a server refuses that, this instance switches to JSON-in-prompt for the rest of its life.
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelOutputError
from ..models import Message
from . import structured
from .base import CompletionRequest
from .http import HttpProvider, usage_from
from .structured import RawReply

__all__ = ["OpenAICompatProvider"]


class OpenAICompatProvider(HttpProvider):
    """Any server that speaks the OpenAI chat-completions protocol."""

    def __init__(self, config, **kwargs: Any):
        super().__init__(config, **kwargs)
        self._max_tokens_field = dict(config.options).get("max_tokens_field", "max_tokens")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    @property
    def endpoint(self) -> str:
        return f"{self.config.base_url}/chat/completions"

    def build_body(
        self, request: CompletionRequest, messages: list[Message], system: str | None, *, native: bool
    ) -> dict[str, Any]:
        wire = [{"role": "system", "content": system}] if system else []
        wire += [{"role": m.role, "content": m.content} for m in messages]
        body: dict[str, Any] = {"model": self.config.model, "messages": wire}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.seed is not None:
            body["seed"] = request.seed
        if request.max_tokens is not None:
            body[self._max_tokens_field] = request.max_tokens
        if native and request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": structured.schema_name(request.schema),
                    "schema": structured.strict_schema(request.schema),
                    "strict": True,
                },
            }
        return body

    def read_reply(self, data: dict[str, Any], latency: float) -> RawReply:
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise ModelOutputError(f"{self._who()} answered without any choices; check the model name")
        choice = choices[0]
        message = choice.get("message") or {}
        text = message.get("content")
        if text is None and message.get("refusal"):
            raise ModelOutputError(f"the model refused to answer: {message['refusal']}")
        return RawReply(
            text=text or "",
            usage=usage_from(data, "prompt_tokens", "completion_tokens"),
            latency_s=latency,
            model=str(data.get("model") or self.config.model),
            truncated=choice.get("finish_reason") == "length",
        )
