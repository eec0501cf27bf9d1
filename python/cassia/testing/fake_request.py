"""One request as the fake LLM server saw it, readable whichever protocol it came in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fake_replies import schema_in_prompt

__all__ = ["FakeRequest", "content_text"]


@dataclass
class FakeRequest:
    """One request the server received (headers with lower-case names)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None

    def __getitem__(self, key: str) -> Any:
        # Also readable as a dict (request["body"], request["headers"]), e.g. from R via reticulate.
        if key not in ("method", "path", "headers", "body"):
            raise KeyError(key)
        return getattr(self, key)

    @property
    def protocol(self) -> str:
        return "anthropic" if self.path.rstrip("/").endswith("/messages") else "openai"

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or []) if isinstance(self.body, dict) else []

    @property
    def text(self) -> str:
        """The system prompt and every message, joined: what rules match against."""
        parts = [content_text(self.body.get("system"))] if isinstance(self.body, dict) else []  # str or blocks
        parts += [content_text(m.get("content")) for m in self.messages]
        return "\n".join(p for p in parts if p)

    @property
    def last_user(self) -> str:
        users = [content_text(m.get("content")) for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""

    def schema(self, *, grammar: bool = True) -> tuple[dict[str, Any], str | None] | None:
        """(schema, name) when the request asks for structured output, natively or in the prompt.

        ``grammar``: a ``schema`` beside ``response_format`` json_object counts (llama.cpp's
        servers make a grammar of it; other servers ignore it).
        """
        body = self.body if isinstance(self.body, dict) else {}
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            return spec.get("schema") or {}, spec.get("name")
        if grammar and response_format.get("type") == "json_object" and isinstance(response_format.get("schema"), dict):
            return response_format["schema"], response_format["schema"].get("title")
        if body.get("tools"):
            wanted = (body.get("tool_choice") or {}).get("name")
            tool = next((t for t in body["tools"] if t.get("name") == wanted), body["tools"][0])
            return tool.get("input_schema") or {}, tool.get("name")
        in_prompt = schema_in_prompt(self.text)
        return (in_prompt, in_prompt.get("title")) if in_prompt is not None else None


def content_text(content: Any) -> str:
    if isinstance(content, list):  # Anthropic content blocks
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")
