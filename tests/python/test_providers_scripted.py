"""The scripted in-process provider that agent tests use."""

from __future__ import annotations

import asyncio

import pytest

from cassia.errors import ConfigError, ModelOutputError, TransientProviderError
from cassia.models import Message, ScorerOutput
from cassia.providers import CompletionRequest, Provider
from cassia.testing import ScriptedProvider

SCORED = {"score": 70, "reasoning": "Fine.", "possible_mixed_population": False}


def ask(task="other", schema=None, content="CD3D"):
    return CompletionRequest(messages=[Message(role="user", content=content)], schema=schema, task=task)


def run(provider, request):
    return asyncio.run(provider.complete(request))


def test_is_a_provider_with_a_fixed_config():
    provider = ScriptedProvider(lambda request: "hi")
    assert isinstance(provider, Provider)
    assert (provider.config.name, provider.config.kind, provider.config.model) == ("scripted", "openai", "scripted-1")


def test_replies_per_task_are_used_in_order_and_the_last_repeats():
    provider = ScriptedProvider({"annotator": ["one", "two"], "scorer": [SCORED]})
    texts = [run(provider, ask("annotator")).text for _ in range(3)]
    assert texts == ["one", "two", "two"]
    result = run(provider, ask("scorer", ScorerOutput))
    assert result.parsed == ScorerOutput(**SCORED) and result.provider == "scripted"
    assert [c.task for c in provider.calls] == ["annotator"] * 3 + ["scorer"]
    assert result.usage.input_tokens == len("CD3D") // 4 and result.usage.output_tokens > 0


def test_unknown_task_without_default_is_a_clear_error():
    provider = ScriptedProvider({"annotator": ["x"]})
    with pytest.raises(ConfigError, match="no reply for task 'scorer'"):
        run(provider, ask("scorer"))
    assert run(ScriptedProvider({"*": ["any"]}), ask("scorer")).text == "any"


def test_function_script_sees_the_request_and_may_return_models_or_raise():
    def script(request):
        if request.task == "review":
            raise TransientProviderError("down")
        return ScorerOutput(**SCORED) if request.schema else f"echo {request.messages[-1].content}"

    provider = ScriptedProvider(script)
    assert run(provider, ask()).text == "echo CD3D"
    assert run(provider, ask(schema=ScorerOutput)).parsed.score == 70
    with pytest.raises(TransientProviderError):
        run(provider, ask("review"))


def test_invalid_reply_consumes_the_next_one_as_repair():
    provider = ScriptedProvider({"scorer": ['{"score": "many"}', SCORED]})
    result = run(provider, ask("scorer", ScorerOutput))
    assert result.parsed.score == 70 and result.attempts == 2
    repair = provider.calls[1]
    assert repair.messages[-2].role == "assistant" and repair.messages[-1].role == "user"
    assert "score" in repair.messages[-1].content


def test_two_invalid_replies_raise_model_output_error():
    provider = ScriptedProvider({"scorer": ["not json", {"score": 5}]})
    with pytest.raises(ModelOutputError, match="ScorerOutput"):
        run(provider, ask("scorer", ScorerOutput))
    assert len(provider.calls) == 2


def test_async_function_scripts_are_awaited():
    async def script(request):
        return "later"

    assert run(ScriptedProvider(script), ask()).text == "later"
