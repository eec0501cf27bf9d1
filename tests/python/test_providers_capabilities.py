"""The model capability registry and what it puts on the wire; refusals read from error bodies."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cassia.errors import ProviderError, redact
from cassia.models import Message
from cassia.providers import CompletionRequest, capabilities_for, get_provider, set_model_capabilities
from cassia.providers.negotiate import learned_for, refused_parameter

OK = {"choices": [{"message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def ask(**kwargs):
    return CompletionRequest(messages=[Message(role="user", content="CD3D, CD3E")], **kwargs)


def recording(*answers):
    """A transport answering with ``answers`` in order (the last repeats); records request bodies."""
    bodies: list[dict] = []
    queue = list(answers)

    def handler(request):
        bodies.append(json.loads(request.content))
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return httpx.MockTransport(handler), bodies


@pytest.mark.parametrize("model,temperature,token_field,first_mode", [
    ("gpt-4o", True, "max_completion_tokens", "json_schema"),
    ("gpt-4.1-mini-2025-04-14", True, "max_completion_tokens", "json_schema"),
    ("gpt-5", False, "max_completion_tokens", "json_schema"),
    ("openai/gpt-5-mini", False, "max_completion_tokens", "json_schema"),
    ("gpt-5-chat-latest", True, "max_completion_tokens", "json_schema"),
    ("o3", False, "max_completion_tokens", "json_schema"),
    ("o4-mini-2025-04-16", False, "max_completion_tokens", "json_schema"),
    ("claude-sonnet-4-5-20250929", True, "max_tokens", "tool"),
    ("anthropic/claude-sonnet-4.5", True, "max_tokens", "tool"),
    ("deepseek-chat", True, "max_tokens", "json_object"),
    ("deepseek-reasoner", False, "max_tokens", "json_object"),
    ("google/gemini-2.5-flash", True, "max_tokens", "json_schema"),
    ("SmolLM2-135M-Instruct", True, "max_tokens", "json_schema"),  # unknown: safe defaults
])
def test_capability_rules_by_model_family(model, temperature, token_field, first_mode):
    caps = capabilities_for(model)
    assert (caps.temperature, caps.token_field, caps.structured[0]) == (temperature, token_field, first_mode)
    assert caps.reasoning_effort == (model.split("/")[-1].startswith(("gpt-5", "o")) and "chat" not in model)


def test_prices_follow_the_most_specific_rule_and_unknown_models_have_none():
    assert (capabilities_for("gpt-4o").price.input, capabilities_for("gpt-4o-mini").price.input) == (2.50, 0.15)
    assert capabilities_for("claude-opus-4-1").price.output == 75.0
    assert capabilities_for("claude-haiku-4-5").price.cached_input == 0.10
    assert capabilities_for("my-finetune").price is None


def test_user_rules_apply_last_and_win():
    set_model_capabilities("gpt-4o*", temperature=False, price=(1, 2, 0.5))
    caps = capabilities_for("gpt-4o-2024-08-06")
    assert caps.temperature is False and caps.price.output == 2 and caps.token_field == "max_completion_tokens"
    with pytest.raises(TypeError, match="unknown capability 'temprature'"):
        set_model_capabilities("x*", temprature=False)


def test_reasoning_model_body_has_no_temperature_and_the_new_token_field():
    transport, bodies = recording(httpx.Response(200, json=OK))
    provider = get_provider("openai", "gpt-5-mini", api_key="sk-test-00000000", transport=transport, max_tokens=300)
    asyncio.run(provider.complete(ask(temperature=0.2, seed=7)))
    assert "temperature" not in bodies[0] and "seed" not in bodies[0]
    assert bodies[0]["max_completion_tokens"] == 300 and "max_tokens" not in bodies[0]


def test_unknown_model_learns_a_refused_token_field_once_per_server_and_model():
    refusal = httpx.Response(400, json={"error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens"}})
    transport, bodies = recording(refusal, httpx.Response(200, json=OK))
    provider = get_provider("http://127.0.0.1:9/v1", "new-model", transport=transport, max_tokens=50, max_retries=0)
    assert asyncio.run(provider.complete(ask())).text == "fine"
    assert [("max_tokens" in b, "max_completion_tokens" in b) for b in bodies] == [(True, False), (False, True)]
    again = get_provider("http://127.0.0.1:9/v1", "new-model", transport=transport, max_tokens=50)
    asyncio.run(again.complete(ask()))
    assert len(bodies) == 3 and "max_completion_tokens" in bodies[2]  # learned, shared by instances
    assert learned_for("http://127.0.0.1:9/v1", "other-model").token_field is None  # per model


def test_refused_temperature_is_dropped_and_resent_at_once_without_a_retry_delay():
    refusal = httpx.Response(400, json={"error": {
        "message": "Unsupported value: 'temperature' does not support 0.2 with this model. "
                   "Only the default (1) value is supported."}})
    transport, bodies = recording(refusal, httpx.Response(200, json=OK))
    provider = get_provider("http://127.0.0.1:9/v1", "mystery", transport=transport, max_retries=0)
    waits: list[float] = []

    async def no_sleep(seconds):
        waits.append(seconds)

    provider._sleep = no_sleep
    asyncio.run(provider.complete(ask(temperature=0.2)))
    assert "temperature" in bodies[0] and "temperature" not in bodies[1] and waits == []


def test_a_second_refusal_of_the_same_parameter_is_an_error():
    refusal = httpx.Response(400, json={"error": {"message": "max_tokens is not supported; neither is "
                                                             "max_completion_tokens"}})
    transport, bodies = recording(refusal)
    provider = get_provider("http://127.0.0.1:9/v1", "stubborn", transport=transport, max_tokens=10)
    with pytest.raises(ProviderError, match="refused 'max_completion_tokens'"):
        asyncio.run(provider.complete(ask()))
    assert len(bodies) == 2


@pytest.mark.parametrize("status,body,expected", [
    (400, '{"error": {"message": "Unsupported parameter: \'max_tokens\'"}}', "max_tokens"),
    (422, '{"detail": [{"type": "extra_forbidden", "loc": ["body", "response_format"], '
          '"msg": "Extra inputs are not permitted"}]}', "response_format"),
    (500, '{"error": {"message": "[{\'type\': \'literal_error\', \'loc\': (\'body\', \'response_format\', '
          '\'type\'), \'msg\': \\"Input should be \'text\' or \'json_object\'\\"}]"}}', "response_format"),
    (400, '{"error": {"message": "This response_format type is unavailable now"}}', "response_format"),
    (400, '{"error": {"message": "tool_choice is not supported"}}', "tools"),
    (400, '{"error": {"message": "seed: Extra inputs are not permitted"}}', "seed"),
])
def test_refusals_are_read_from_the_body_whatever_the_status(status, body, expected):
    sent = {"model": "m", "max_tokens": 5, "response_format": {}, "tools": [], "tool_choice": {}, "seed": 1}
    assert refused_parameter(status, body, sent) == expected


@pytest.mark.parametrize("status,body,sent", [
    (429, "temperature is not supported", {"temperature": 1}),  # rate limits are never refusals
    (401, "response_format not supported", {"response_format": {}}),
    (404, "unsupported model", {"temperature": 1}),
    (400, "max_tokens: Field required", {"messages": []}),  # names only what we sent
    (400, "temperature is too high for this account", {"temperature": 1}),  # no refusal wording
    (500, "internal error in response_format handling", {"response_format": {}}),
])
def test_what_is_not_a_refusal(status, body, sent):
    assert refused_parameter(status, body, sent) is None


def test_requests_in_flight_are_not_capped_at_eight(fake_server):
    fake_server.latency = 0.3
    provider = get_provider(fake_server.url, "m")  # no max_concurrency: the caller's workers decide

    async def many():
        return await asyncio.gather(*(provider.complete(ask()) for _ in range(24)))

    asyncio.run(many())
    assert fake_server.max_in_flight > 8


def test_a_password_in_the_provider_url_is_masked_everywhere():
    provider = get_provider("http://bob:hunter2-secret@127.0.0.1:9/v1", "m")
    assert provider.config.public()["base_url"] == "http://bob:***@127.0.0.1:9/v1"
    assert "hunter2-secret" not in repr(provider.config.public()) and "hunter2" not in provider._who()
    assert redact("failed: hunter2-secret") == "failed: ***"  # registered as a secret
    assert redact("see https://u:pw@example.org/x") == "see https://u:***@example.org/x"
