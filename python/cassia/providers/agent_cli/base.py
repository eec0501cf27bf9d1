"""What every agent-CLI backend shares: one prompt text, a concurrency limit, structured output.

A command-line agent takes one prompt, not a list of chat messages, so the system prompt and
the conversation are written out as one text with plain section markers. Structured output is
asked for in that text (JSON-in-prompt, :mod:`cassia.providers.structured`), validated with
pydantic and repaired once, exactly as for HTTP servers without schema support. Subclasses only
say how to invoke their tool (:meth:`AgentCLIProvider.invocation`) and how to read what it
printed (:meth:`AgentCLIProvider.read`).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ModelOutputError, ProviderError
from ...models import Message, Usage
from .. import structured
from ..base import Completion, CompletionRequest, ProviderConfig
from ..structured import RawReply
from .guard import check_argv
from .process import ProcessOutcome, run_process, stderr_tail

__all__ = ["AgentCLIProvider", "Invocation", "ToolReply", "render_prompt"]

DEFAULT_MODEL = "default"  # means: let the tool use its own configured model
CLI_CONCURRENCY = 8  # tool processes at once when the config sets no max_concurrency
PREAMBLE = (
    "You are called by CASSIA as a text-completion backend. Answer from the text below alone: "
    "do not run commands, read or edit files, or browse the web."
)
ROLE_MARKER = "=== {role} ==="


def render_prompt(system: str | None, messages: list[Message]) -> str:
    """The system prompt and the conversation as one text a command-line agent can answer."""
    parts = [PREAMBLE]
    if system:
        parts += [ROLE_MARKER.format(role="instructions"), system.strip()]
    for message in messages:
        parts += [ROLE_MARKER.format(role=message.role), message.content.strip()]
    if len(messages) > 1:
        parts.append("Write the assistant's next reply to the last user message.")
    return "\n\n".join(parts)


@dataclass
class Invocation:
    """How to start the tool for one prompt."""

    argv: list[str]
    stdin: str | None = None
    cwd: Path | None = None
    output_file: Path | None = None  # read after the tool exits, when the tool writes its answer there


@dataclass
class ToolReply:
    """What the tool answered, in backend-neutral form."""

    text: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    model: str = ""


@dataclass
class _CallState:
    cost: float | None = 0.0
    reported: bool = True


class AgentCLIProvider:
    """Base class of the command-line backends (Provider protocol)."""

    program = ""  # the executable's usual name, e.g. "claude"

    def __init__(self, config: ProviderConfig):
        self.config = config
        self.options = dict(config.options)
        self._semaphores: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.config.name!r}, model={self.config.model!r})"

    # ------------------------------------------------------------ what subclasses provide

    def invocation(self, prompt: str, request: CompletionRequest, workdir: Path) -> Invocation:
        raise NotImplementedError

    def read(self, outcome: ProcessOutcome, invocation: Invocation) -> ToolReply:
        raise NotImplementedError

    # ------------------------------------------------------------ helpers for subclasses

    @property
    def model_argument(self) -> str | None:
        """The model to ask the tool for, or None to leave the tool's own default."""
        model = (self.config.model or "").strip()
        return None if model in ("", DEFAULT_MODEL) else model

    @property
    def extra_args(self) -> list[str]:
        return [str(a) for a in self.options.get("extra_args", ())]

    def who(self) -> str:
        return f"{self.config.name} ({self.executable()})"

    def executable(self) -> str:
        return str(self.options.get("executable") or self.program)

    def failure(self, outcome: ProcessOutcome, detail: str | None = None) -> ProviderError:
        detail = detail or stderr_tail(outcome.stderr) or stderr_tail(outcome.stdout) or "no error output"
        return ProviderError(
            f"{self.who()} exited with status {outcome.returncode}: {detail}. Run the tool by hand to check "
            "that it is installed and logged in"
        )

    # ------------------------------------------------------------ the protocol call

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            for key in [k for k, (lp, _) in self._semaphores.items() if lp.is_closed()]:
                del self._semaphores[key]
            entry = self._semaphores.get(id(loop))
            if entry is None or entry[0] is not loop:
                # Each call is a process of its own: unlike HTTP, keep a limit when none is set.
                entry = (loop, asyncio.Semaphore(self.config.max_concurrency or CLI_CONCURRENCY))
                self._semaphores[id(loop)] = entry
        return entry[1]

    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer ``request``: free text, or a validated object when it names a schema."""
        state = _CallState()
        send = self._sender(request, state)
        if request.schema is None:
            completion = await structured.complete_text(send, request)
            if not completion.text.strip():
                raise ModelOutputError(f"{self.who()} returned an empty answer; run the tool by hand to check it")
        else:
            completion = await structured.complete_json_in_prompt(send, request)
        completion.provider = self.config.name
        completion.model = completion.model or self.config.model
        completion.cost_usd = state.cost if state.reported else None
        return completion

    def _sender(self, request: CompletionRequest, state: _CallState) -> structured.SendFn:
        async def send(messages: list[Message], system: str | None) -> RawReply:
            prompt = render_prompt(system, messages)
            async with self._semaphore():
                reply, elapsed = await self._call(prompt, request)
            if reply.cost_usd is None:
                state.reported = False
            elif state.cost is not None:
                state.cost += reply.cost_usd
            return RawReply(text=reply.text, usage=reply.usage, latency_s=elapsed, model=reply.model)

        return send

    async def _call(self, prompt: str, request: CompletionRequest) -> tuple[ToolReply, float]:
        with tempfile.TemporaryDirectory(prefix="cassia-cli-") as folder:
            invocation = self.invocation(prompt, request, Path(folder))
            check_argv(invocation.argv, prompt, invocation.stdin, self.who())
            outcome = await run_process(invocation.argv, who=self.who(), stdin=invocation.stdin,
                                        cwd=invocation.cwd, timeout=self.config.timeout)
            return self.read(outcome, invocation), outcome.elapsed_s
