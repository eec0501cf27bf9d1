"""Shared behaviour of the fake agent CLIs in this folder (claude, codex, cursor-agent, fake-llm-tool).

Each fake answers like its real tool: schema-valid JSON when the prompt embeds a JSON schema
(CASSIA's JSON-in-prompt mode), else a short text naming genes from the last user message.
Environment variables steer them:

- ``FAKE_AGENT_MODE``: ``ok`` (default), ``fail`` (non-zero exit, stderr with a key-like string),
  ``auth`` (the tool says it is not logged in), ``hang`` (starts a grandchild and sleeps),
  ``garbage`` (answers that are not JSON), ``garbage-once`` (the first structured answer is not
  JSON, later ones are fine; needs ``FAKE_AGENT_STATE``), ``envelope-garbage`` (stdout that is
  not the tool's JSON envelope but plain text).
- ``FAKE_AGENT_LOG``: a file to which every call appends one JSON line (argv, stdin, cwd, prompt).
- ``FAKE_AGENT_PIDFILE``: where ``hang`` writes the pids it started.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import cassia.models  # noqa: F401  (its output models supply the example answers)
import cassia.agents.boost  # noqa: F401
from cassia.testing.fake_replies import default_text, example_for, schema_in_prompt

FAKE_KEY = "sk-ant-FAKEKEY0123456789abcdef"
USER_MARKER = "=== user ==="


def mode() -> str:
    return os.environ.get("FAKE_AGENT_MODE", "ok")


def log_call(argv: list[str], stdin: str | None, prompt: str) -> None:
    path = os.environ.get("FAKE_AGENT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": argv, "stdin": stdin, "cwd": os.getcwd(), "prompt": prompt}) + "\n")


def read_stdin() -> str:
    return "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()


def answer(prompt: str) -> str:
    """What the fake model says to ``prompt``, honouring the garbage modes."""
    schema = schema_in_prompt(prompt)
    if schema is not None:
        if mode() == "garbage" or (mode() == "garbage-once" and _first_time()):
            return "Sure! Here is my answer: the cells look like T cells (no JSON, sorry)."
        name = re.search(r"The object is a (\w+) and", prompt)
        return json.dumps(example_for(schema, name.group(1) if name else None))
    last_user = prompt.rsplit(USER_MARKER, 1)[-1]
    return default_text(last_user)


def _first_time() -> bool:
    state = os.environ.get("FAKE_AGENT_STATE")
    if not state or os.path.exists(state):
        return False
    open(state, "w").close()
    return True


def misbehave(tool: str) -> None:
    """Act out the failure modes that do not depend on the tool's output format."""
    if mode() == "fail":
        print(f"{tool}: fatal: upstream request failed", file=sys.stderr)
        print(f"request used key {FAKE_KEY}; status 500", file=sys.stderr)
        sys.exit(3)
    if mode() == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        pidfile = os.environ.get("FAKE_AGENT_PIDFILE")
        if pidfile:
            with open(pidfile, "w") as handle:
                handle.write(f"{os.getpid()} {child.pid}\n")
        time.sleep(120)
        sys.exit(0)


def tokens(text: str) -> int:
    return max(1, len(text) // 4)
