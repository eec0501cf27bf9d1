"""Strict vendor modes of the fake server: refuse what the real services refuse, in their words.

Everything we test against would otherwise accept whatever we send. Each mode answers a
request it would not take the way that service does (status code and error body as the real
servers send them, so the adapter's reading of refusals is tested against the real wording):

``openai-reasoning``  GPT-5 / o-series: 400 for ``max_tokens`` and for a temperature other than 1
``anthropic``         Messages API: 400 ``max_tokens: Field required``; ``seed`` or
                      ``response_format``: 400 ``Extra inputs are not permitted``
``llama-cpp``         llama-cpp-python's server: 500 with a validation body for ``json_schema``
                      (``json_object`` is taken, and a ``schema`` beside it held as a grammar)
``deepseek``          400 for ``json_schema``; ``json_object`` is taken and a ``schema`` beside
                      it ignored without a word
``no-structured``     a FastAPI server without structured output: 422 ``detail`` list for any
                      ``response_format`` or ``tools``
"""

from __future__ import annotations

from typing import Any

__all__ = ["IGNORE_GRAMMAR", "VENDOR_MODES", "vendor_refusal"]

VENDOR_MODES = ("openai-reasoning", "anthropic", "llama-cpp", "deepseek", "no-structured")
# Modes that take ``response_format`` json_object but ignore a ``schema`` beside it (only
# llama.cpp's servers make a grammar of it; the fake server by default does as they do).
IGNORE_GRAMMAR = frozenset({"deepseek"})

Refusal = tuple[int, dict[str, Any]]


def _openai_error(message: str, param: str | None, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _openai_reasoning(body: dict[str, Any]) -> Refusal | None:
    if "max_tokens" in body:
        return 400, _openai_error("Unsupported parameter: 'max_tokens' is not supported with this model. "
                                  "Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return 400, _openai_error(f"Unsupported value: 'temperature' does not support {temperature} with this "
                                  "model. Only the default (1) value is supported.", "temperature", "unsupported_value")
    return None


def _anthropic(body: dict[str, Any]) -> Refusal | None:
    def error(message: str) -> Refusal:
        return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}}

    if "max_tokens" not in body:
        return error("max_tokens: Field required")
    for extra in ("seed", "response_format"):
        if extra in body:
            return error(f"{extra}: Extra inputs are not permitted")
    return None


def _llama_cpp(body: dict[str, Any]) -> Refusal | None:
    kind = (body.get("response_format") or {}).get("type")
    if kind not in (None, "text", "json_object"):
        # What llama-cpp-python's server really answers: its pydantic error inside a 500.
        message = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                   f"'msg': \"Input should be 'text' or 'json_object'\", 'input': '{kind}', "
                   "'ctx': {'expected': \"'text' or 'json_object'\"}}")
        return 500, {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}
    return None


def _deepseek(body: dict[str, Any]) -> Refusal | None:
    kind = (body.get("response_format") or {}).get("type")
    if kind not in (None, "text", "json_object"):
        return 400, _openai_error("This response_format type is unavailable now", None, "invalid_request_error")
    return None


def _no_structured(body: dict[str, Any]) -> Refusal | None:
    extra = [name for name in ("response_format", "tools", "tool_choice") if name in body]
    if not extra:
        return None
    return 422, {"detail": [{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted",
                             "input": body[name]} for name in extra]}


_MODES = {"openai-reasoning": _openai_reasoning, "anthropic": _anthropic, "llama-cpp": _llama_cpp,
          "deepseek": _deepseek, "no-structured": _no_structured}


def vendor_refusal(vendor: str, body: Any) -> Refusal | None:
    """(status, error body) when ``vendor`` would refuse this request body, else None."""
    if vendor not in _MODES:
        raise ValueError(f"unknown vendor mode {vendor!r}; use one of {', '.join(VENDOR_MODES)}")
    return _MODES[vendor](body if isinstance(body, dict) else {})
