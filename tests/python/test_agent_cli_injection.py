"""Marker names and model text never run as code through an agent-CLI backend.

A property test builds every backend's invocation for many hostile strings (through the
prompt, the cluster name, the task and the model) and checks that none reaches a shell or an
interpreter as code; real calls through the fakes then show that nothing hostile ran.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys
from pathlib import Path

import pytest

from cassia.errors import ConfigError
from cassia.models import Message
from cassia.providers import get_provider
from cassia.providers.agent_cli import render_prompt
from cassia.providers.agent_cli.guard import check_argv, interpreter_in, stdin_runs_as_code
from cassia.providers.base import CompletionRequest

FAKES = Path(__file__).parent / "fakes"
SLUG = re.compile(r"[a-z0-9-]+")

# Templates that must be refused: {prompt} where a shell or interpreter would read it as code,
# whatever flags precede the script, or the prompt sent to one's stdin as its program.
REFUSED = [
    "sh -c 'fake-llm-tool --prompt {prompt}'",
    "sh -ec 'fake-llm-tool --prompt \"{prompt}\"'",
    "bash -lc 'fake-llm-tool --prompt \"{prompt}\"'",
    "sh -xc 'fake-llm-tool --prompt \"{prompt}\"'",
    "sh -c 'fake-llm-tool --prompt \"$1\"' _ {prompt}",
    "/bin/dash -c 'echo \"$1\"' _ {prompt}",
    "zsh -f -c 'fake-llm-tool --prompt \"{prompt}\"'",
    "env sh -c 'fake-llm-tool --prompt \"{prompt}\"'",
    "env -i FOO=1 /usr/bin/bash -c 'echo {prompt}'",
    "env -S 'sh -c' 'echo {prompt}'",
    "timeout 10 bash -c 'echo {prompt}'",
    "python3 -c 'import sys; print(sys.argv[1])' {prompt}",
    "/usr/bin/python3.11 -I -c 'print(1)' {prompt}",
    "perl -e 'print @ARGV' {prompt}",
    "node -e 'console.log(process.argv[1])' {prompt}",
    "ruby -e 'puts ARGV' {prompt}",
    "watch -n1 {prompt}",
    "sh",
    "bash -s",
    "python3 -",
]
# Templates that are allowed: the prompt reaches the command as a file or as stdin data.
ALLOWED = [
    "fake-llm-tool --in {prompt_file} --out {output_file} --cluster {cluster} --task {task} --model {model}",
    "fake-llm-tool --prompt {prompt} --cluster {cluster}",
    "fake-llm-tool",
    "sh -c 'fake-llm-tool --in \"$0\" --cluster {cluster}' {prompt_file}",
    "bash -ec 'fake-llm-tool < \"$0\"' {prompt_file}",
    "sh -ec 'fake-llm-tool --task {task}'",
    "env LC_ALL=C sh -c 'fake-llm-tool --out \"$1\"' {prompt_file} {output_file}",
]
FRAGMENTS = [
    "$(touch {m})", "`touch {m}`", "; touch {m}", "\"; touch {m}; echo \"", "'; touch {m}; echo '",
    "\ntouch {m}\n", "&& touch {m}", "| tee {m}", "> {m}", "$IFS$(touch${{IFS}}{m})",
    "__import__('os').system('touch {m}')", "system(\"touch {m}\")", "{{prompt}}", "{{prompt_file}}",
    "-c", "--output-format", "=cmd|' /C calc'!A0", "CD3D", "\u202etouch {m}", "\\\\'$'\\x41'",
]


def hostile_strings(seed: int, n: int, marker: Path) -> list[str]:
    """Random mixes of shell and interpreter payloads, each between two unique tags."""
    rng = random.Random(seed)
    return [f"tag{i}x" + "".join(rng.choice(FRAGMENTS).format(m=marker) for _ in range(rng.randint(1, 5))) + f"x{i}tag"
            for i in range(n)]


@pytest.fixture(autouse=True)
def fakes_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AGENT_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv("FAKE_AGENT_MODE", raising=False)
    monkeypatch.chdir(tmp_path)


def _request(text: str) -> CompletionRequest:
    return CompletionRequest(
        messages=[Message(role="user", content=f"Ranked markers: {text}"), Message(role="assistant", content=text),
                  Message(role="user", content="Revise.")],
        system=f"You annotate clusters. {text}", task="annotator", context={"cluster": text})


@pytest.mark.parametrize("template", REFUSED)
def test_templates_that_would_run_the_prompt_are_refused_with_the_fix(template):
    with pytest.raises(ConfigError, match=r"\{prompt_file\}"):
        get_provider("shell", command=template)


def _backends() -> list:
    providers = [get_provider(name) for name in ("claude-cli", "codex-cli", "cursor-agent")]
    return providers + [get_provider("shell", "gpt-x", command=template) for template in ALLOWED]


def test_property_hostile_text_never_reaches_an_interpreter_as_code(tmp_path):
    marker = tmp_path / "pwned"
    for number, provider in enumerate(_backends()):
        for text in hostile_strings(seed=number, n=50, marker=marker):
            request = _request(text)
            prompt = render_prompt(request.system, request.messages)
            invocation = provider.invocation(prompt, request, tmp_path)
            check_argv(invocation.argv, prompt, invocation.stdin, provider.who())  # allowed: must pass
            # hostile text reaches argv only as the whole prompt (data), or as the cluster's slug
            carriers = [arg for arg in invocation.argv if text in arg and not SLUG.fullmatch(arg)]
            assert all(prompt in arg for arg in carriers), (provider, text)
            found = interpreter_in(invocation.argv)
            if found is not None:
                assert not carriers, (provider, text)
                assert invocation.stdin is None or stdin_runs_as_code(invocation.argv) is None
            if "--cluster" in invocation.argv:
                assert SLUG.fullmatch(invocation.argv[invocation.argv.index("--cluster") + 1])


def test_hostile_model_names_are_refused_where_they_would_reach_the_command():
    for name in ("$(touch x)", "a;b", "`id`", "x y", "a'b"):
        with pytest.raises(ConfigError, match="not allowed"):
            get_provider("shell", name, command="fake-llm-tool --model {model}")


@pytest.mark.parametrize("executable", ["sh", "/bin/bash", "python3"])
def test_runtime_guard_covers_every_backend(executable):
    """Even a tool swapped for an interpreter (executable=) never gets the prompt as code."""
    provider = get_provider("cursor-agent", options={"executable": executable})
    with pytest.raises(ConfigError, match="could run as code"):
        asyncio.run(provider.complete(_request("$(touch pwned)")))
    assert not Path("pwned").exists()


def test_hostile_text_through_every_backend_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    text = " ".join(f.format(m=marker) for f in FRAGMENTS)
    for provider in _backends():
        completion = asyncio.run(provider.complete(_request(text)))
        assert completion.text.strip()
    assert not marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["calls.jsonl"]
