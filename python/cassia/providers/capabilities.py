"""What each model accepts, matched by name: the model capability registry.

A request that a server refuses costs a call and, worse, a run. What a model takes differs by
model, not by vendor: OpenAI's GPT-5 family and o-series refuse a temperature other than the
default and want ``max_completion_tokens``; Anthropic requires ``max_tokens``; DeepSeek knows
``json_object`` but not ``json_schema``. So the registry is a list of rules, each a glob on the
model name with the fields it sets. Every rule that matches applies, in order, later ones
overriding earlier ones; rules added with :func:`set_model_capabilities` come last and so win.

A name matches a rule as given, without an OpenRouter-style ``vendor/`` prefix, and without a
date-snapshot suffix (``gpt-4o-2024-08-06``, ``claude-sonnet-4-5-20250929``); Claude names with
dots (``claude-sonnet-4.5``) also match the dashed spelling. Unknown models get the defaults of
the ``*`` rule and learn the rest from the server's refusals (:mod:`.negotiate`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Capabilities",
    "Price",
    "RULES",
    "StructuredMode",
    "capabilities_for",
    "reset_model_capabilities",
    "set_model_capabilities",
]

StructuredMode = Literal["json_schema", "json_object", "tool", "prompt"]
TokenField = Literal["max_tokens", "max_completion_tokens"]


@dataclass(frozen=True)
class Price:
    """US dollars per one million tokens; ``cached_input`` for prompt-cache hits and ``cache_write``
    for prompt-cache writes (None: as input)."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None  # prompt-cache writes (Anthropic: 1.25 x input; None: as input)


@dataclass(frozen=True)
class Capabilities:
    """What one model accepts. ``structured``: the ways to get JSON out, best first.

    ``grammar``: in ``json_object`` mode, send the schema beside ``response_format`` (llama.cpp's
    servers hold the reply to it as a grammar) rather than in the prompt; a reply that shows the
    server ignored it turns this off for the (server, model) (:mod:`.http`). A request carries
    the schema once either way.
    """

    temperature: bool = True  # a temperature other than the server default is accepted
    seed: bool = True
    token_field: TokenField = "max_tokens"
    structured: tuple[StructuredMode, ...] = ("json_schema", "json_object", "tool", "prompt")
    grammar: bool = True
    reasoning_effort: bool = False  # takes OpenAI's ``reasoning_effort``
    price: Price | None = None  # None: unknown, the cost of a call is unknown too


_FIELDS = {f.name for f in dataclasses.fields(Capabilities)}
_GPT5_NO_SAMPLING = {"temperature": False, "seed": False, "token_field": "max_completion_tokens",
                     "reasoning_effort": True}

# (glob, fields). Order matters: broad rules first, the exceptions after them.
_BUILTIN: list[tuple[str, dict[str, Any]]] = [
    ("*", {}),
    # OpenAI chat models of the GPT-4o / 4.1 generation: every sampling option, both token fields.
    ("gpt-4o*", {"token_field": "max_completion_tokens", "price": Price(2.50, 10.00, 1.25)}),
    ("gpt-4o-mini*", {"price": Price(0.15, 0.60, 0.075)}),
    ("gpt-4.1*", {"token_field": "max_completion_tokens", "price": Price(2.00, 8.00, 0.50)}),
    ("gpt-4.1-mini*", {"price": Price(0.40, 1.60, 0.10)}),
    ("gpt-4.1-nano*", {"price": Price(0.10, 0.40, 0.025)}),
    # GPT-5 family and o-series reasoning models: the default temperature only.
    ("gpt-5*", {**_GPT5_NO_SAMPLING, "price": Price(1.25, 10.00, 0.125)}),
    ("gpt-5-mini*", {"price": Price(0.25, 2.00, 0.025)}),
    ("gpt-5-nano*", {"price": Price(0.05, 0.40, 0.005)}),
    ("gpt-5*-chat*", {"temperature": True, "reasoning_effort": False}),
    ("o[1-9]*", _GPT5_NO_SAMPLING),
    ("o1*", {"price": Price(15.00, 60.00, 7.50)}),
    ("o3*", {"price": Price(2.00, 8.00, 0.50)}),
    ("o3-mini*", {"price": Price(1.10, 4.40, 0.55)}),
    ("o4-mini*", {"price": Price(1.10, 4.40, 0.275)}),
    # Anthropic: max_tokens is required, no seed, JSON through a forced tool.
    ("claude-*", {"seed": False, "structured": ("tool", "prompt"), "price": Price(3.00, 15.00, 0.30, 3.75)}),
    ("claude-opus-4*", {"price": Price(15.00, 75.00, 1.50, 18.75)}),
    ("claude-opus-4-5*", {"price": Price(5.00, 25.00, 0.50, 6.25)}),
    ("claude-haiku-4*", {"price": Price(1.00, 5.00, 0.10, 1.25)}),
    ("claude-3-5-haiku*", {"price": Price(0.80, 4.00, 0.08, 1)}),
    ("claude-3-opus*", {"price": Price(15.00, 75.00, 1.50, 18.75)}),
    ("claude-3-haiku*", {"price": Price(0.25, 1.25, 0.03, 0.3125)}),
    # DeepSeek: json_object, not json_schema, and no grammar: its json_object needs the schema in the prompt.
    ("deepseek-*", {"structured": ("json_object", "prompt"), "grammar": False}),
    ("deepseek-chat*", {"price": Price(0.27, 1.10, 0.07)}),
    ("deepseek-reasoner*", {"temperature": False, "price": Price(0.55, 2.19, 0.14)}),
    # Google Gemini (through OpenRouter or Google's OpenAI-compatible endpoint).
    ("gemini-*", {"structured": ("json_schema", "json_object", "prompt")}),
    ("gemini-2.5-pro*", {"price": Price(1.25, 10.00, 0.31)}),
    ("gemini-2.5-flash*", {"price": Price(0.30, 2.50, 0.075)}),
]

RULES: list[tuple[str, dict[str, Any]]] = list(_BUILTIN)
_user_rules: list[tuple[str, dict[str, Any]]] = []
_lock = threading.Lock()
_SNAPSHOT = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")


def _names(model: str) -> tuple[str, ...]:
    """The spellings a rule may match: as given, without ``vendor/``, without a snapshot date."""
    name = model.strip().lower()
    names = [name]
    if "/" in name:
        name = name.rsplit("/", 1)[1]
        names.append(name)
    if name.startswith("claude"):
        name = name.replace(".", "-")
        names.append(name)
    names.append(_SNAPSHOT.sub("", name))
    return tuple(dict.fromkeys(names))


def set_model_capabilities(pattern: str, **fields: Any) -> None:
    """Say what models matching ``pattern`` (a glob) accept; wins over the built-in rules.

    ``set_model_capabilities("my-llama*", structured=("json_object", "prompt"), price=(0, 0))``.
    A ``price`` may be a :class:`Price` or a tuple (input, output[, cached input[, cache write]])
    per 1M tokens.
    """
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise TypeError(f"unknown capability {unknown[0]!r}; use one of {sorted(_FIELDS)}")
    if isinstance(fields.get("price"), (tuple, list)):
        fields["price"] = Price(*(float(x) for x in fields["price"]))
    if "structured" in fields:
        fields["structured"] = tuple(fields["structured"])
    with _lock:
        _user_rules.append((pattern.strip().lower(), dict(fields)))
    capabilities_for.cache_clear()


def reset_model_capabilities() -> None:
    """Forget every rule added with :func:`set_model_capabilities` (tests use this)."""
    with _lock:
        _user_rules.clear()
    capabilities_for.cache_clear()


@functools.lru_cache(maxsize=512)
def capabilities_for(model: str) -> Capabilities:
    """The capabilities of ``model``: every matching rule applied in order, the user's last."""
    names = _names(model)
    fields: dict[str, Any] = {}
    with _lock:
        rules = RULES + _user_rules
    for pattern, values in rules:
        if any(fnmatch.fnmatchcase(name, pattern) for name in names):
            fields.update(values)
    return Capabilities(**fields)
