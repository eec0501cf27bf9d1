"""Local command-line agents as backends: Claude Code, Codex CLI, Cursor Agent, a shell template.

Each reuses the tool's own login (no CASSIA key), runs it as a subprocess without a shell, and
turns its answer into the same structured results as the HTTP backends (JSON asked for in the
prompt, validated, one repair). Selected by name: ``get_provider("claude-cli")``,
``run_pipeline(..., provider="codex-cli")``, ``get_provider("shell", command="mytool --in
{prompt_file} --out {output_file}")``. Options (``options=`` of :func:`cassia.get_provider`):
``executable`` (another binary or path), ``extra_args`` (a list of extra flags), ``command``
(the shell template). ``timeout=`` bounds each call; the tool is killed with its process group.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from ...errors import ConfigError
from ..base import ProviderConfig
from .base import AgentCLIProvider, render_prompt
from .shell import COMMAND_ENV, ShellCommandProvider
from .tools import ClaudeCLIProvider, CodexCLIProvider, CursorAgentProvider

__all__ = [
    "AGENT_CLIS",
    "AgentCLI",
    "AgentCLIProvider",
    "COMMAND_ENV",
    "ClaudeCLIProvider",
    "CodexCLIProvider",
    "CursorAgentProvider",
    "ShellCommandProvider",
    "cli_status",
    "from_config",
    "render_prompt",
]


@dataclass(frozen=True)
class AgentCLI:
    name: str  # the provider name
    provider: type[AgentCLIProvider]
    program: str  # the executable looked up on PATH ("" for the shell template)
    description: str


AGENT_CLIS: dict[str, AgentCLI] = {
    a.name: a
    for a in (
        AgentCLI("claude-cli", ClaudeCLIProvider, "claude", "Claude Code (claude -p), its own login"),
        AgentCLI("codex-cli", CodexCLIProvider, "codex", "OpenAI Codex CLI (codex exec), its own login"),
        AgentCLI("cursor-agent", CursorAgentProvider, "cursor-agent", "Cursor Agent (cursor-agent -p), its own login"),
        AgentCLI("shell", ShellCommandProvider, "", "any command from a template ({prompt_file}, {output_file}, ...)"),
    )
}


def from_config(config: ProviderConfig) -> AgentCLIProvider:
    """The backend named by ``config.name`` (what :func:`cassia.get_provider` calls for kind "cli")."""
    entry = AGENT_CLIS.get(config.name)
    if entry is None:
        raise ConfigError(f"no command-line backend is called {config.name!r}; use one of {', '.join(AGENT_CLIS)}")
    return entry.provider(config)


def cli_status(name: str, executable: str | None = None) -> dict[str, object]:
    """Whether a command-line backend can run here: its program on PATH (or a shell template set)."""
    entry = AGENT_CLIS[name]
    if entry.name == "shell":
        template = os.environ.get(COMMAND_ENV, "").strip()
        return {"name": name, "program": None, "path": None, "available": bool(template),
                "detail": f"template from {COMMAND_ENV}" if template else
                f"needs a command template (--shell-command or {COMMAND_ENV})"}
    program = executable or entry.program
    path = shutil.which(program)
    return {"name": name, "program": program, "path": path, "available": path is not None,
            "detail": f"{program} at {path}" if path else f"{program} not found on PATH"}
