"""Structured output shared by every backend: strict schemas, validation and the one repair.

Each backend supplies a ``send(messages, system) -> RawReply`` coroutine; this module does the
rest the same way for all of them. Natively (``response_format`` json_schema, Anthropic's
forced tool, json_object with the schema beside it as llama.cpp's grammar) the backend
attaches the schema itself; in the JSON-in-prompt modes (plain prompting, and json_object for
servers that ignore a schema beside it) the schema goes into the system prompt as text and the
JSON is read from the reply (also from a ```json fence). A request carries the schema once:
where the server holds it, or in the prompt, never both. Either way the result is validated
with pydantic and, when it does not fit, the model gets exactly one chance to repair it (its
bad reply plus the problem, asked again) before :class:`~cassia.errors.ModelOutputError` is
raised; the repair turn writes the schema out only when a native reply shows the model never
saw it (a gateway that ignored ``response_format``), never when the prompt carries it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from pydantic import BaseModel, ValidationError

from ..errors import ModelOutputError, redact
from ..models import Message, Usage
from ..spelling import spell
from .base import Completion, CompletionRequest

__all__ = [
    "NATIVE_MODES",
    "SCHEMA_MARKER",
    "RawReply",
    "SendFn",
    "complete_json_in_prompt",
    "complete_native",
    "complete_text",
    "json_instructions",
    "keeping_first",
    "parse_json_text",
    "schema_ignored",
    "schema_name",
    "strict_schema",
]

# The words that introduce the schema in JSON-in-prompt mode; the fake test server looks for them.
SCHEMA_MARKER = "must match this JSON schema:"
# Keywords that strict servers refuse ("'examples' is not permitted") and that add nothing.
_DROP_KEYWORDS = frozenset({"default", "examples"})
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
# Wire modes where the schema travels outside the prompt for the server to hold the reply to
# (``grammar``: json_object with the schema beside it); the others write it into the prompt.
NATIVE_MODES = frozenset({"json_schema", "grammar", "tool"})


@dataclass
class RawReply:
    """One reply of a backend before validation."""

    text: str
    usage: Usage = field(default_factory=Usage)
    usage_known: bool = True  # False when the server sent no token counts
    latency_s: float = 0.0
    model: str = ""
    truncated: bool = False  # stopped at the output-token limit
    data: Any = None  # a payload the server already decoded (Anthropic's tool input)
    batched: bool = False  # came back from a provider batch API


SendFn = Callable[[list[Message], "str | None"], Awaitable[RawReply]]


# ---------------------------------------------------------------- schemas


def schema_name(schema: type[BaseModel]) -> str:
    """A name servers accept for the schema (letters, digits, _ and -, at most 64)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", schema.__name__)[:64]


def strict_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in strict form: closed objects, every property required."""
    return json.loads(_strict_cached(schema))  # a fresh copy for the caller, in a quarter of a deepcopy's time


@functools.lru_cache(maxsize=256)
def _strict_cached(schema: type[BaseModel]) -> str:
    # pydantic rebuilds a schema on every call (~2 ms): once per model class is enough, and it
    # was the largest cost per call of our own in a 200-cluster profile
    return json.dumps(_strict(schema.model_json_schema()))


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYWORDS:
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: _strict(sub) for name, sub in value.items()}  # names are not keywords
        else:
            out[key] = _strict(value)
    if "properties" in out:
        out["required"] = list(out["properties"])
    if out.get("type") == "object" and not isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = False
    return out


def json_instructions(schema: type[BaseModel]) -> str:
    """The system-prompt text that asks for JSON when the server cannot enforce a schema."""
    return (
        "Answer with one JSON object and nothing else: no prose before or after it.\n"
        f"The object is a {schema_name(schema)} and {SCHEMA_MARKER}\n"
        f"{json.dumps(strict_schema(schema), separators=(',', ':'))}"
    )


# ---------------------------------------------------------------- reading replies


def parse_json_text(text: str) -> Any:
    """Decode the JSON in a reply: the whole text, a ```json fence, or the outermost {...}."""
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    first_error: json.JSONDecodeError | None = None
    for candidate in candidates:
        try:
            return json.loads(candidate, strict=False)  # raw newlines or tabs inside strings, as small models write
        except json.JSONDecodeError as err:
            first_error = first_error or err
    detail = f" ({first_error.msg} at line {first_error.lineno} column {first_error.colno})" if first_error else ""
    raise ValueError(f"the reply is not valid JSON{detail}")


def _read(reply: RawReply, schema: type[BaseModel]) -> tuple[BaseModel | None, str]:
    """The validated object, or None and a description of what is wrong with the reply."""
    try:
        data = reply.data if reply.data is not None else parse_json_text(reply.text)
    except ValueError as err:
        if reply.truncated:
            return None, ("the reply was cut off at the output-token limit before the JSON was complete; "
                          "keep every text and list short")
        return None, str(err)
    try:
        return schema.model_validate(data), ""
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(whole object)'}: {e['msg']}" for e in err.errors()[:10]
        ]
        return None, f"the JSON does not match {schema_name(schema)}: " + "; ".join(problems)


def schema_ignored(reply: RawReply, schema: type[BaseModel]) -> bool:
    """Whether a complete reply shows that the model never saw the schema: no JSON object, or
    not the schema's properties (a server holding the reply to the schema allows neither)."""
    if reply.truncated:
        return False
    try:
        data = reply.data if reply.data is not None else parse_json_text(reply.text)
    except ValueError:
        return True
    return not isinstance(data, dict) or set(data) != set(strict_schema(schema).get("properties", {}))


def keeping_first(send: SendFn) -> tuple[SendFn, list[RawReply]]:
    """``send``, and a list that gets its first reply (to judge afterwards how the server took the request)."""
    first: list[RawReply] = []

    async def kept(messages: list[Message], system: str | None) -> RawReply:
        reply = await send(messages, system)
        if not first:
            first.append(reply)
        return reply

    return kept, first


def _repair_prompt(problem: str, schema: type[BaseModel], *, repeat_schema: bool) -> str:
    ask = (f"That reply could not be used: {problem}. "
           f"Answer again with only the corrected {schema_name(schema)} JSON object, complete and concise.")
    # The schema again only when the model evidently never saw it (a gateway that ignored
    # response_format); a prompt that carries it, or a server that held the reply to it, has it once.
    return f"{ask}\n{json_instructions(schema)}" if repeat_schema else ask


def _truncated(request: CompletionRequest, option: str, reply_usage: Usage, attempts: int) -> ModelOutputError:
    """The error for a reply cut off at the output limit, naming the option that raises it."""
    limit = f" ({request.max_tokens} tokens)" if request.max_tokens else ""
    err = ModelOutputError(
        f"the reply stopped at the output-token limit{limit} and is incomplete; raise {spell(option)} "
        "or ask for a shorter answer"
    )
    err.usage, err.attempts = reply_usage, attempts  # type: ignore[attr-defined]
    return err


def _completion(replies: list[RawReply], parsed: BaseModel | None = None) -> Completion:
    usage = Usage()
    for reply in replies:
        usage = usage + reply.usage
    last = replies[-1]
    return Completion(
        text=last.text,
        parsed=parsed,
        usage=usage,
        latency_s=sum(r.latency_s for r in replies),
        model=last.model,
        attempts=len(replies),
        batched=all(r.batched for r in replies),
        usage_known=all(r.usage_known for r in replies),
    )


# ---------------------------------------------------------------- the three ways to complete


async def complete_text(send: SendFn, request: CompletionRequest, option: str = "max_tokens") -> Completion:
    """A free-text answer. A reply cut off at the token limit is an error, not a silent stub.

    ``option``: the keyword that sets this call's output limit, named (in the user's spelling)
    when the reply is cut off: ``max_tokens``, ``scoring_max_tokens`` or ``boost_max_tokens``.
    """
    reply = await send(list(request.messages), request.system)
    if reply.truncated:
        raise _truncated(request, option, reply.usage, 1)
    return _completion([reply])


async def complete_native(send: SendFn, request: CompletionRequest, option: str = "max_tokens") -> Completion:
    """Structured output where ``send`` makes the server enforce the schema itself."""
    return await _validated(send, request, request.system, option, schema_in_prompt=False)


async def complete_json_in_prompt(send_text: SendFn, request: CompletionRequest,
                                  option: str = "max_tokens") -> Completion:
    """Structured output from any text backend: schema in the prompt, parse, validate, one repair.

    ``send_text(messages, system)`` must return the backend's plain reply; agent-CLI backends
    and servers without schema support both use this.
    """
    if request.schema is None:
        raise ValueError("complete_json_in_prompt needs a request with a schema")
    instructions = json_instructions(request.schema)
    system = f"{request.system}\n\n{instructions}" if request.system else instructions
    return await _validated(send_text, request, system, option, schema_in_prompt=True)


async def _validated(send: SendFn, request: CompletionRequest, system: str | None, option: str, *,
                     schema_in_prompt: bool) -> Completion:
    schema = request.schema
    assert schema is not None
    messages = list(request.messages)
    replies: list[RawReply] = []
    problem = ""
    for _ in range(2):  # the first answer and one repair
        reply = await send(messages, system)
        replies.append(reply)
        parsed, problem = _read(reply, schema)
        if parsed is not None:
            return _completion(replies, parsed)
        messages = messages + [
            Message(role="assistant", content=reply.text or "(empty reply)"),
            Message(role="user", content=_repair_prompt(
                problem, schema, repeat_schema=not schema_in_prompt and schema_ignored(reply, schema))),
        ]
    last = replies[-1]
    if last.truncated:  # cut off twice (the repair asked for a shorter object): the limit is the problem
        raise _truncated(request, option, _completion(replies).usage, len(replies))
    hint = "Try a stronger model, or one whose server supports structured output."
    snippet = " ".join(last.text.split())[:200]
    err = ModelOutputError(
        redact(
            f"the model did not return a usable {schema_name(schema)} after one repair attempt: "
            f"{problem}. Its last reply began {snippet!r}. {hint}"
        )
    )
    err.usage = _completion(replies).usage  # type: ignore[attr-defined]
    err.attempts = len(replies)  # type: ignore[attr-defined]
    raise err
