"""Learning from a server's refusals: which parameter it refused, and what to send instead.

Servers refuse what they do not take in their own words and with their own status codes:
OpenAI answers 400 ``Unsupported parameter: 'max_tokens'``, FastAPI-based servers 422 with a
``detail`` list (``Extra inputs are not permitted``), llama.cpp's Python server 500 with a
validation body. :func:`refused_parameter` reads the error body whatever the status and names
the parameter only when we sent it and the body uses refusal wording; 401/403/404/408/429 are
never refusals. What was learned is kept per (base URL with any password masked, model) for the
life of the process, shared by every provider instance talking to that pair, so a run pays for
a refusal once per model, not once per call. :func:`forget_learned` starts afresh (tests do).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ProviderError, mask_url_password

__all__ = [
    "Learned",
    "ParameterRefused",
    "STRUCTURED_PARAMETERS",
    "forget_learned",
    "learned_for",
    "refused_parameter",
]

# Statuses that mean something else (auth, wrong model or URL, timeout, rate limit).
_NEVER_REFUSALS = frozenset({401, 403, 404, 408, 429})
# How servers word "I do not take this".
_REFUSAL_WORDING = re.compile(
    r"not supported|unsupported|does not support|doesn't support|not permitted|extra inputs|extra_forbidden"
    r"|unrecognized|unrecogni[sz]ed|unknown (?:parameter|field|argument|name)|not allowed|only supports"
    r"|only the default|must be|unavailable|not available|cannot be used|field required|missing"
    r"|not implemented|invalid (?:value|parameter|type)|input should be",
    re.IGNORECASE,
)
# Parameters we may send, in the order a body is searched for them (cache_control first: its
# refusal names the block it sits in, e.g. "tools.0.cache_control", and must not drop the tools).
_PARAMETERS = ("cache_control", "response_format", "tools", "tool_choice", "reasoning_effort", "temperature",
               "seed", "max_completion_tokens", "max_tokens")
# Parameters that sit inside the body's blocks rather than at its top level (prompt-cache breakpoints).
_NESTED = frozenset({"cache_control"})
# A refusal of one of these steps the structured-output mode down instead of changing the body.
STRUCTURED_PARAMETERS = frozenset({"response_format", "tools", "tool_choice"})
_ALIASES = {"response_format": ("response_format", "json_schema")}


class ParameterRefused(ProviderError):
    """The server refused one parameter of the request (``parameter``); not worth a plain retry."""

    def __init__(self, message: str, *, parameter: str, status: int | None = None):
        super().__init__(message, status=status)
        self.parameter = parameter


def _mentions(text: str, name: str) -> bool:
    return any(re.search(rf"(?<![a-z_]){re.escape(alias)}(?![a-z_])", text) for alias in _ALIASES.get(name, (name,)))


def refused_parameter(status: int | None, body: str, sent: Mapping[str, Any]) -> str | None:
    """The parameter of ``sent`` (the request body) that the error ``body`` refuses, if any."""
    if status is None or status < 400 or status in _NEVER_REFUSALS:
        return None
    if not _REFUSAL_WORDING.search(body):
        return None
    text = body.lower()
    for name in _PARAMETERS:
        present = name in sent or (name in _NESTED and f'"{name}"' in json.dumps(dict(sent)))
        if present and _mentions(text, name):
            return "tools" if name == "tool_choice" else name
    return None


@dataclass
class Learned:
    """What one (server, model) refused so far."""

    dropped: set[str] = field(default_factory=set)  # parameters no longer sent
    token_field: str | None = None  # the output-limit field the server wants, once it said so
    refused_modes: set[str] = field(default_factory=set)  # structured-output modes it refused
    grammar_ignored: bool = False  # it took json_object's schema without holding the reply to it

    def step(self, parameter: str, current_token_field: str) -> None:
        """Change what is sent after ``parameter`` was refused (the caller checks for progress)."""
        if parameter in ("max_tokens", "max_completion_tokens"):
            if self.token_field is None:  # swap once; a second refusal is a real error
                self.token_field = "max_completion_tokens" if current_token_field == "max_tokens" else "max_tokens"
        else:
            self.dropped.add(parameter)


_learned: dict[tuple[str | None, str], Learned] = {}
_lock = threading.Lock()


def learned_for(base_url: str | None, model: str) -> Learned:
    """The shared record of refusals for (``base_url``, ``model``)."""
    key = (mask_url_password(base_url), model)
    with _lock:
        return _learned.setdefault(key, Learned())


def forget_learned() -> None:
    """Forget every refusal learned in this process."""
    with _lock:
        _learned.clear()
