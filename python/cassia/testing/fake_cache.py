"""How the fake LLM server imitates providers' prompt caching, so tests can see cached tokens.

Tokens are characters / 4, as everywhere in the fake server; a prefix is cached only from
``min_tokens`` on (1,024 by default, the usual minimum of both vendors).

- **Anthropic** caches only what a request marks: the prefix up to and including a block that
  carries ``cache_control`` (tools first, then the system prompt, then the messages). A hit is
  looked for at every block boundary up to the last breakpoint (so a conversation's next turn
  reads what the previous turn marked); the longest is reported as ``cache_read_input_tokens``,
  what the last breakpoint's prefix adds beyond it, the first time, as
  ``cache_creation_input_tokens``; ``input_tokens`` counts only the rest, as Anthropic's do.
- **OpenAI** caches by itself: the longest prefix of the prompt shared with an earlier request
  to the same model, from 1,024 tokens on and in steps of 128, comes back as
  ``prompt_tokens_details.cached_tokens`` (part of ``prompt_tokens``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from .fake_request import FakeRequest, content_text

__all__ = ["PromptCache"]

_STEP = 128  # OpenAI caches prefixes in steps of 128 tokens


class PromptCache:
    """What the fake server has cached so far (shared by every request it answers)."""

    def __init__(self, min_tokens: int | None = 1024):
        self.min_tokens = min_tokens  # None: no prompt caching at all
        self._marked: set[str] = set()
        self._openai: set[int] = set()  # prefixes of earlier OpenAI prompts, at the reportable lengths
        self._lock = threading.Lock()

    def anthropic_usage(self, request: FakeRequest, input_tokens: int, output_tokens: int) -> dict[str, int]:
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        prefixes = _prefixes(request.body if isinstance(request.body, dict) else {})
        marked = [i for i, (_, _, mark) in enumerate(prefixes) if mark]
        if self.min_tokens is None or not marked:
            return usage
        prefixes = prefixes[: marked[-1] + 1]  # nothing after the last breakpoint is cached
        with self._lock:
            # like Anthropic, look for a hit at every block boundary up to the last breakpoint
            hits = [tokens for key, tokens, _ in prefixes if key in self._marked and tokens >= self.min_tokens]
            read = max(hits, default=0)
            key, longest, _ = prefixes[-1]
            written = longest - read if longest >= self.min_tokens and key not in self._marked else 0
            self._marked.update(k for k, tokens, mark in prefixes if mark and tokens >= self.min_tokens)
        usage.update(input_tokens=max(0, input_tokens - read - written), cache_read_input_tokens=read,
                     cache_creation_input_tokens=written)
        return usage

    def openai_cached(self, request: FakeRequest) -> int:
        """Tokens of the prompt an earlier request to the same model already had in front."""
        if self.min_tokens is None:
            return 0
        model = str((request.body or {}).get("model") or "") if isinstance(request.body, dict) else ""
        prompt = f"{model}\n{request.text}"
        head = len(model) + 1
        # Only prefixes of min_tokens + k steps can be reported, so only those are remembered
        # (a hash each): a lookup costs the same on the 10,000th request as on the first.
        steps = range(self.min_tokens, (len(prompt) - head) // 4 + 1, _STEP)
        keys = [hash(prompt[: head + 4 * tokens]) for tokens in steps]
        cached = 0
        with self._lock:
            for tokens, key in zip(steps, keys):
                if key not in self._openai:
                    break
                cached = tokens
            self._openai.update(keys)
        return cached


def _prefixes(body: dict[str, Any]) -> list[tuple[str, int, bool]]:
    """(cache key, tokens, marked) of the prefix ending at each block: the tools, the system
    prompt, each message, in request order.

    The key holds the tools too (another schema is another prefix); the tokens count the text
    only, as the server's ``input_tokens`` do.
    """
    tools = json.dumps(body.get("tools") or [], sort_keys=True)
    out: list[tuple[str, int, bool]] = []
    parts: list[str] = []

    def boundary(mark: bool) -> None:
        text = "\n".join(p for p in parts if p)
        out.append((f"{body.get('model')}\n{tools}\n{text}", len(text) // 4, mark))

    boundary(any(isinstance(t, dict) and t.get("cache_control") for t in body.get("tools") or []))
    system = body.get("system")
    parts.append(content_text(system))
    boundary(_has_mark(system))
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        parts.append(content_text(content))
        boundary(_has_mark(content))
    return out


def _has_mark(content: Any) -> bool:
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("cache_control") for b in content)
