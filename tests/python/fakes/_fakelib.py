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

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import types


def _bare_cassia_package() -> None:
    """Register ``cassia`` without running its __init__ (which imports pandas and the whole engine).

    The fakes need only the output models; skipping the package import makes each fake call
    start in about 0.2 s instead of 0.7 s, which keeps the suite quick.
    """
    if "cassia" in sys.modules:
        return
    spec = importlib.util.find_spec("cassia")
    package = types.ModuleType("cassia")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["cassia"] = package


_bare_cassia_package()
import cassia.models  # noqa: E402,F401  (its output models supply the example answers)
from cassia.testing import fake_replies  # noqa: E402
from cassia.testing.fake_replies import default_text, schema_in_prompt  # noqa: E402

LATER_STAGE_MODULES = ("cassia.agents.boost", "cassia.agents.subcluster")

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
        found = re.search(r"The object is a (\w+) and", prompt)
        name = found.group(1) if found else None
        if name and fake_replies._model_example(name) is None:
            for module in LATER_STAGE_MODULES:  # Boost and subclustering models, loaded only when asked for
                importlib.import_module(module)
        return json.dumps(fake_replies.example_for(schema, name))
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
