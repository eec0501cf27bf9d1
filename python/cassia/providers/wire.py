"""Reading what a server sent back: token usage, ``Retry-After``, and its error messages.

Shared by the HTTP adapters (:mod:`.http`) so the call machinery stays separate from the
shapes of replies. Error text quoted in our messages is cut short and redacted.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

from ..errors import redact
from ..models import Usage

__all__ = ["error_detail", "error_text", "parse_retry_after", "snippet", "usage_from"]

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


def usage_from(data: dict[str, Any], input_field: str, output_field: str, cached: int = 0) -> Usage | None:
    """The reply's token counts, or None when it carries none (its cost is then unknown)."""
    raw = data.get("usage")
    if not isinstance(raw, dict) or (input_field not in raw and output_field not in raw):
        return None
    return Usage(input_tokens=int(raw.get(input_field) or 0), output_tokens=int(raw.get(output_field) or 0),
                 input_cached_tokens=int(cached or 0))


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return redact(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))


def error_detail(response: httpx.Response) -> str:
    """The server's own error message when it sent one in the usual JSON shape, else the body."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return snippet(response.text) or response.reason_phrase
    return error_text(data)


def error_text(data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return snippet(str(error["message"]))
    if isinstance(error, str):
        return snippet(error)
    return snippet(json.dumps(data))
