"""Running a local tool as a subprocess: argv lists only, a timeout that kills the whole group.

Prompts never pass through a shell: the command is an argv list given to ``exec`` directly,
and the prompt travels on stdin, in a file, or as one argv element. Each tool runs in its own
session (process group), so on a timeout or a cancelled run the tool and everything it started
are killed together instead of lingering.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, ProviderError, redact

__all__ = ["ProcessOutcome", "run_process", "stderr_tail"]

TAIL_LINES = 12  # lines of a failing tool's stderr quoted in the error
TAIL_CHARS = 800


@dataclass
class ProcessOutcome:
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float


def stderr_tail(text: str) -> str:
    """The last lines of a tool's stderr, shortened and with secrets masked."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-TAIL_LINES:])
    if len(tail) > TAIL_CHARS:
        tail = "..." + tail[-TAIL_CHARS:]
    return redact(tail)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # already gone
        pass


async def run_process(argv: list[str], *, who: str, stdin: str | None = None, cwd: str | Path | None = None,
                      timeout: float = 120.0) -> ProcessOutcome:
    """Run ``argv`` (no shell) with ``stdin`` as input; kill its process group after ``timeout`` s."""
    started = time.perf_counter()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(cwd) if cwd is not None else None,
            start_new_session=True,  # its own process group, killed as a whole
        )
    except FileNotFoundError:
        raise ConfigError(f"{who}: the program {argv[0]!r} was not found; install it or put it on PATH") from None
    except PermissionError:
        raise ConfigError(f"{who}: {argv[0]!r} is not executable; check the path and its permissions") from None
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode("utf-8") if stdin is not None else None), timeout)
    except asyncio.TimeoutError:
        _kill_group(process)
        await process.wait()
        raise ProviderError(
            f"{who} did not finish within {timeout:g} s and was stopped; raise the timeout "
            f"(--timeout / timeout=) if the tool is slow, or check that {Path(argv[0]).name!r} runs by hand"
        ) from None
    except BaseException:  # cancelled run or interrupt: never leave the tool running
        _kill_group(process)
        raise
    return ProcessOutcome(returncode=process.returncode if process.returncode is not None else -1,
                          stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
                          elapsed_s=time.perf_counter() - started)
