"""Agent-CLI backends against executable fakes on PATH (tests/python/fakes): formats and failure modes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from cassia.errors import AuthError, ConfigError, ModelOutputError, ProviderError
from cassia.models import Message, ScorerOutput
from cassia.providers import get_provider
from cassia.providers.agent_cli import render_prompt
from cassia.providers.base import CompletionRequest

FAKES = Path(__file__).parent / "fakes"
FAKE_KEY = "sk-ant-FAKEKEY0123456789abcdef"  # what the fakes print on stderr in "fail" mode
TOOLS = ["claude-cli", "codex-cli", "cursor-agent"]


@pytest.fixture(autouse=True)
def fakes_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AGENT_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FAKE_AGENT_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("FAKE_AGENT_MODE", raising=False)


def calls(tmp_path) -> list[dict]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def ask(provider, *, schema=None, content="Ranked markers: CD3D, CD3E, CD2, IL7R"):
    request = CompletionRequest(messages=[Message(role="user", content=content)], system="You annotate clusters.",
                                schema=schema, context={"cluster": "T; rm -rf /"})
    return asyncio.run(provider.complete(request))


@pytest.mark.parametrize("name", TOOLS)
def test_text_and_structured_answers(name, tmp_path):
    provider = get_provider(name, "fake-model-1")
    text = ask(provider)
    assert "CD3D" in text.text and text.provider == name
    scored = ask(provider, schema=ScorerOutput)
    assert isinstance(scored.parsed, ScorerOutput) and scored.attempts == 1
    logged = calls(tmp_path)
    assert len(logged) == 2
    assert "--model" in logged[0]["argv"] and "fake-model-1" in logged[0]["argv"]
    assert "must match this JSON schema:" in logged[1]["prompt"]  # JSON-in-prompt
    assert logged[0]["cwd"] != os.getcwd()  # agents run in an empty temporary folder


def test_claude_envelope_gives_usage_cost_and_model(tmp_path):
    completion = ask(get_provider("claude-cli", "claude-x"), schema=ScorerOutput)
    assert completion.cost_usd == pytest.approx(0.0125)
    assert completion.usage.input_tokens > 7 and completion.usage.output_tokens > 0  # cached tokens included
    assert completion.model == "claude-x"
    argv = calls(tmp_path)[0]["argv"]
    assert argv[1:4] == ["-p", "--output-format", "json"]
    assert calls(tmp_path)[0]["stdin"].startswith("You are called by CASSIA")  # prompt on stdin, not argv


def test_codex_reads_last_message_and_usage(tmp_path):
    completion = ask(get_provider("codex-cli"))
    assert completion.usage.input_tokens > 0 and completion.cost_usd is None  # codex reports no cost
    argv = calls(tmp_path)[0]["argv"]
    assert argv[1] == "exec" and argv[-1] == "-" and "--output-last-message" in argv and "--model" not in argv


def test_cursor_takes_the_prompt_as_one_argument(tmp_path):
    ask(get_provider("cursor-agent"))
    argv = calls(tmp_path)[0]["argv"]
    assert argv[-1].startswith("You are called by CASSIA") and "CD3D, CD3E" in argv[-1]


@pytest.mark.parametrize("name", TOOLS + ["shell"])
def test_non_zero_exit_is_a_provider_error_with_redacted_stderr(name, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
    provider = get_provider(name, command="fake-llm-tool --in {prompt_file}")
    with pytest.raises(ProviderError) as caught:
        ask(provider)
    message = str(caught.value)
    assert "exited with status 3" in message and "upstream request failed" in message
    assert FAKE_KEY not in message and "***" in message


def test_timeout_kills_the_whole_process_group(monkeypatch, tmp_path):
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("FAKE_AGENT_MODE", "hang")
    monkeypatch.setenv("FAKE_AGENT_PIDFILE", str(pidfile))
    provider = get_provider("claude-cli", timeout=3)
    with pytest.raises(ProviderError, match="did not finish within 3 s"):
        ask(provider)
    pids = [int(p) for p in pidfile.read_text().split()]
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)  # the tool and the process it started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is dead, just not reaped by its parent yet
        return handle.read().split()[2] != "Z"


@pytest.mark.parametrize("name", TOOLS)
def test_garbage_answer_is_repaired_once_then_fails(name, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_AGENT_MODE", "garbage-once")
    repaired = ask(get_provider(name), schema=ScorerOutput)
    assert repaired.parsed is not None and repaired.attempts == 2
    assert "could not be used" in calls(tmp_path)[1]["prompt"]  # the repair request quotes the problem
    monkeypatch.setenv("FAKE_AGENT_MODE", "garbage")
    with pytest.raises(ModelOutputError, match="after one repair attempt"):
        ask(get_provider(name), schema=ScorerOutput)
    assert len(calls(tmp_path)) == 4


def test_output_that_is_not_the_envelope_is_read_as_the_answer(monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_MODE", "envelope-garbage")
    completion = ask(get_provider("claude-cli"), schema=ScorerOutput)
    assert completion.parsed is not None and completion.cost_usd is None


@pytest.mark.parametrize("name", TOOLS)
def test_not_logged_in_is_an_auth_error(name, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_MODE", "auth")
    with pytest.raises(AuthError, match="not logged in"):
        ask(get_provider(name))


def test_missing_tool_is_a_config_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="'claude' was not found"):
        ask(get_provider("claude-cli"))


def test_shell_template_placeholders_and_stdin(tmp_path):
    provider = get_provider("shell", "my-model",
                            command="fake-llm-tool --in {prompt_file} --out {output_file} --cluster {cluster} "
                                    "--model {model} --task {task}")
    completion = ask(provider, schema=ScorerOutput)
    assert completion.parsed is not None
    argv = calls(tmp_path)[0]["argv"]
    cluster = argv[argv.index("--cluster") + 1]
    assert cluster.startswith("t-rm-rf-") and set(cluster) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert argv[argv.index("--model") + 1] == "my-model" and argv[argv.index("--task") + 1] == "other"
    via_stdin = get_provider("shell", command="fake-llm-tool")
    assert "CD3D" in ask(via_stdin).text
    assert calls(tmp_path)[1]["stdin"].startswith("You are called by CASSIA")
    assert via_stdin.config.base_url != provider.config.base_url  # cached answers never mix templates


def test_shell_template_errors(monkeypatch):
    monkeypatch.delenv("CASSIA_SHELL_COMMAND", raising=False)
    with pytest.raises(ConfigError, match="needs a command template"):
        get_provider("shell")
    with pytest.raises(ConfigError, match="could run as code"):
        get_provider("shell", command="sh -c 'fake-llm-tool --prompt {prompt}'")
    with pytest.raises(ConfigError, match="quotes"):
        get_provider("shell", command="fake-llm-tool --in '{prompt_file}")
    with pytest.raises(ConfigError, match="not allowed"):
        get_provider("shell", "gpt;rm", command="fake-llm-tool --model {model}")
    with pytest.raises(ProviderError, match="without writing"):
        ask(get_provider("shell", command="true {output_file}"))
    monkeypatch.setenv("CASSIA_SHELL_COMMAND", "fake-llm-tool --in {prompt_file}")
    assert "CD3D" in ask(get_provider("shell")).text


def test_prompt_with_shell_metacharacters_is_only_ever_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile = "Notes: $(touch pwned) `touch pwned2`; rm -rf ./keep && touch pwned3 | cat"
    (tmp_path / "keep").mkdir()
    as_argument = get_provider("shell", command="fake-llm-tool --prompt {prompt}")
    as_file = get_provider("shell", command="sh -c 'fake-llm-tool --in \"$1\"' _ {prompt_file}")
    for provider in (as_argument, as_file, get_provider("cursor-agent"), get_provider("claude-cli")):
        ask(provider, content=hostile)
    assert not list(tmp_path.glob("pwned*")) and (tmp_path / "keep").is_dir()
    assert all(hostile in call["prompt"] for call in calls(tmp_path))


def test_concurrency_limit_is_respected(tmp_path):
    provider = get_provider("shell", command="fake-llm-tool --in {prompt_file}", max_concurrency=2)
    active, peak = 0, 0
    original = provider._call

    async def counting(prompt, request):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return await original(prompt, request)
        finally:
            active -= 1

    provider._call = counting

    async def many():
        request = CompletionRequest(messages=[Message(role="user", content="CD3D")])
        return await asyncio.gather(*(provider.complete(request) for _ in range(5)))

    assert len(asyncio.run(many())) == 5 and peak == 2


def test_render_prompt_keeps_roles_apart():
    text = render_prompt("SYS", [Message(role="user", content="first"), Message(role="assistant", content="reply"),
                                 Message(role="user", content="again")])
    assert text.index("=== instructions ===") < text.index("=== user ===") < text.index("=== assistant ===")
    assert text.rstrip().endswith("last user message.")
