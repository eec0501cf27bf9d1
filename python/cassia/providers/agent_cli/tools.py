"""Claude Code, Codex CLI and Cursor Agent as backends, each with its own login.

What each tool is asked to do (assumptions about their flags, checked against their docs and
``--help`` at the time of writing; ``extra_args=`` adds flags, ``executable=`` another binary):

- ``claude-cli``: ``claude -p --output-format json [--model M]`` with the prompt on stdin. It
  prints one JSON envelope ``{"type": "result", "subtype": "success", "is_error": false,
  "result": "<answer>", "usage": {...}, "total_cost_usd": 0.01, "modelUsage": {...}}``
  (older releases: ``cost_usd``; with ``--verbose``: a list of events ending in the result).
- ``codex-cli``: ``codex exec --skip-git-repo-check --sandbox read-only --color never --json
  --output-last-message FILE [--model M] -`` with the prompt on stdin (``-``). The final
  message is read from FILE; token usage from the ``turn.completed`` events of the JSONL
  stream on stdout. Codex reports no cost.
- ``cursor-agent``: ``cursor-agent -p --output-format json [--model M] PROMPT`` (the prompt is
  one argv element, never shell text). Same envelope as Claude Code, usually without usage.

Agents run in an empty temporary folder, so they cannot read or change the user's project.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ...errors import AuthError, ProviderError, redact
from ...models import Usage
from ..base import CompletionRequest
from .base import AgentCLIProvider, Invocation, ToolReply
from .process import ProcessOutcome

__all__ = ["ClaudeCLIProvider", "CodexCLIProvider", "CursorAgentProvider", "parse_envelope"]

_AUTH = re.compile(r"(?i)\b(log ?in|logged in|authenticat\w*|unauthori[sz]ed|invalid api key|credentials?)\b")
MAX_ARGV_PROMPT = 120_000  # bytes; Linux refuses a single argument longer than 128 KiB


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_envelope(stdout: str) -> dict[str, Any] | None:
    """The result envelope Claude Code / Cursor Agent print with ``--output-format json``, if any."""
    text = stdout.strip()
    if not text:
        return None
    candidates = [text] + [line.strip() for line in reversed(text.splitlines()) if line.strip()[:1] in "{["]
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, list):  # --verbose: every event, the result last
            data = next((e for e in reversed(data) if isinstance(e, dict) and e.get("type") == "result"), None)
        if isinstance(data, dict) and ("result" in data or data.get("type") == "result"):
            return data
    return None


class _EnvelopeTool(AgentCLIProvider):
    """Tools that print one JSON result envelope (Claude Code, Cursor Agent)."""

    def _error(self, message: str, outcome: ProcessOutcome) -> ProviderError:
        message = redact(" ".join(message.split())[:600])
        if _AUTH.search(message):
            return AuthError(f"{self.who()} is not logged in or its credentials were refused: {message}. "
                             f"Log in with the tool itself (e.g. run {self.executable()!r} once by hand)")
        return self.failure(outcome, message)

    def read(self, outcome: ProcessOutcome, invocation: Invocation) -> ToolReply:
        envelope = parse_envelope(outcome.stdout)
        failed = envelope is not None and (envelope.get("is_error") or str(envelope.get("subtype", "")).startswith("error"))
        if failed:
            detail = str(envelope.get("result") or envelope.get("error") or envelope.get("subtype") or "error")
            raise self._error(detail, outcome)
        if outcome.returncode != 0:
            tail = outcome.stderr if outcome.stderr.strip() else outcome.stdout
            if _AUTH.search(tail):
                raise self._error(tail[-600:], outcome)
            raise self.failure(outcome)
        if envelope is None:
            if not outcome.stdout.strip():
                raise ProviderError(f"{self.who()} printed nothing; run it by hand to check it works")
            # Not the JSON envelope (an older release, or text output configured): the printed
            # text is the answer, and the structured-output path validates it like any reply.
            return ToolReply(text=outcome.stdout.strip())
        return ToolReply(text=str(envelope.get("result") or ""), usage=self._usage(envelope),
                         cost_usd=self._cost(envelope), model=self._model(envelope))

    @staticmethod
    def _usage(envelope: dict[str, Any]) -> Usage:
        raw = envelope.get("usage")
        if not isinstance(raw, dict):
            return Usage()
        # Cached prompt tokens are reported apart from input_tokens; they were read all the same.
        read = sum(_int(raw.get(k)) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
        return Usage(input_tokens=read, output_tokens=_int(raw.get("output_tokens")))

    @staticmethod
    def _cost(envelope: dict[str, Any]) -> float | None:
        for key in ("total_cost_usd", "cost_usd"):
            value = envelope.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return None

    def _model(self, envelope: dict[str, Any]) -> str:
        used = envelope.get("modelUsage")
        if isinstance(used, dict) and len(used) == 1:
            return str(next(iter(used)))
        return str(envelope.get("model") or self.config.model)


class ClaudeCLIProvider(_EnvelopeTool):
    """Claude Code in print mode (``claude -p``)."""

    program = "claude"

    def invocation(self, prompt: str, request: CompletionRequest, workdir: Path) -> Invocation:
        argv = [self.executable(), "-p", "--output-format", "json"]
        if self.model_argument:
            argv += ["--model", self.model_argument]
        return Invocation(argv=argv + self.extra_args, stdin=prompt, cwd=workdir)


class CursorAgentProvider(_EnvelopeTool):
    """Cursor's command-line agent in print mode (``cursor-agent -p``)."""

    program = "cursor-agent"

    def invocation(self, prompt: str, request: CompletionRequest, workdir: Path) -> Invocation:
        if len(prompt.encode("utf-8")) > MAX_ARGV_PROMPT:
            raise ProviderError(f"the prompt is too long to pass to {self.executable()} on its command line "
                                f"({len(prompt)} characters); use claude-cli, codex-cli or a shell template "
                                "with {prompt_file}")
        argv = [self.executable(), "-p", "--output-format", "json"]
        if self.model_argument:
            argv += ["--model", self.model_argument]
        return Invocation(argv=argv + self.extra_args + [prompt], cwd=workdir)


class CodexCLIProvider(AgentCLIProvider):
    """OpenAI's Codex CLI, non-interactive (``codex exec``)."""

    program = "codex"

    def invocation(self, prompt: str, request: CompletionRequest, workdir: Path) -> Invocation:
        answer = workdir / "last-message.txt"
        argv = [self.executable(), "exec", "--skip-git-repo-check", "--sandbox", "read-only", "--color", "never",
                "--json", "--output-last-message", str(answer)]
        if self.model_argument:
            argv += ["--model", self.model_argument]
        return Invocation(argv=argv + self.extra_args + ["-"], stdin=prompt, cwd=workdir, output_file=answer)

    def read(self, outcome: ProcessOutcome, invocation: Invocation) -> ToolReply:
        events = _json_lines(outcome.stdout)
        errors = [_event_error(e) for e in events]
        errors = [e for e in errors if e]
        if outcome.returncode != 0:
            message = redact(errors[-1]) if errors else None
            if message and _AUTH.search(message):
                raise AuthError(f"{self.who()} is not logged in or its credentials were refused: {message}. "
                                "Run 'codex login' first")
            raise self.failure(outcome, message)
        text = ""
        if invocation.output_file is not None and invocation.output_file.exists():
            text = invocation.output_file.read_text(encoding="utf-8", errors="replace").strip()
        if not text:
            text = _last_agent_message(events)
        if not text:
            detail = f": {redact(errors[-1])}" if errors else ""
            raise ProviderError(f"{self.who()} finished without a final message{detail}; run "
                                "'codex exec' by hand to check it works")
        usage = Usage()
        for event in events:
            if event.get("type") == "turn.completed" and isinstance(event.get("usage"), dict):
                raw = event["usage"]
                usage = usage + Usage(input_tokens=_int(raw.get("input_tokens")),
                                      output_tokens=_int(raw.get("output_tokens")))
        return ToolReply(text=text, usage=usage, cost_usd=None, model=self.config.model)


def _json_lines(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _event_error(event: dict[str, Any]) -> str | None:
    if event.get("type") == "error":
        return str(event.get("message") or "error")
    if event.get("type") == "turn.failed":
        error = event.get("error")
        return str(error.get("message") if isinstance(error, dict) else error or "turn failed")
    return None


def _last_agent_message(events: list[dict[str, Any]]) -> str:
    for event in reversed(events):
        item = event.get("item") if event.get("type") == "item.completed" else None
        if isinstance(item, dict) and item.get("type") in ("agent_message", "assistant_message"):
            return str(item.get("text") or "").strip()
    return ""
