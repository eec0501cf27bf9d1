"""Negotiation with strict servers: the fake server's vendor modes, each fallback step, faults."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cassia.errors import ModelOutputError, TransientProviderError
from cassia.models import Message, ScorerOutput
from cassia.providers import CompletionRequest, get_provider, set_model_capabilities
from cassia.providers.cache import CachedProvider, ResponseCache
from cassia.providers.structured import SCHEMA_MARKER
from cassia.spelling import interface
from cassia.testing import FakeLLMServer


def ask(schema=ScorerOutput, **kwargs):
    return CompletionRequest(messages=[Message(role="user", content="Score: CD3D, CD3E, IL7R")], schema=schema,
                             **kwargs)


def run(provider, request):
    return asyncio.run(provider.complete(request))


@pytest.fixture()
def vendor_server(request):
    with FakeLLMServer(vendor=request.param) as server:
        yield server


@pytest.mark.parametrize("vendor_server", ["openai-reasoning"], indirect=True)
def test_reasoning_server_refusals_are_learned_once_and_known_models_send_nothing_refused(vendor_server):
    provider = get_provider(vendor_server.url, "mystery-reasoner", max_tokens=100, max_retries=0)
    assert run(provider, ask(schema=None, temperature=0.2)).text
    first = vendor_server.requests
    assert vendor_server.refused == 2 and len(first) == 3  # max_tokens swapped, then temperature dropped
    assert "max_completion_tokens" in first[-1].body and "temperature" not in first[-1].body
    vendor_server.reset()
    run(get_provider(vendor_server.url, "mystery-reasoner", max_tokens=100), ask(temperature=0.2))
    assert vendor_server.refused == 0 and len(vendor_server.requests) == 1  # learned for the run
    vendor_server.reset()
    run(get_provider(vendor_server.url, "gpt-5-mini", max_tokens=100), ask(temperature=0.2))
    assert vendor_server.refused == 0 and len(vendor_server.requests) == 1  # the registry knew


@pytest.mark.parametrize("vendor_server", ["anthropic"], indirect=True)
def test_anthropic_always_gets_max_tokens_and_never_seed_or_response_format(vendor_server):
    provider = get_provider("anthropic", "claude-haiku-4-5", api_key="sk-ant-test-000000",
                            base_url=vendor_server.anthropic_url)
    assert run(provider, ask(seed=7, temperature=0.1)).parsed is not None
    assert run(provider, ask(schema=None, seed=7)).text
    assert vendor_server.refused == 0 and len(vendor_server.requests) == 2
    assert all("seed" not in r.body and "max_tokens" in r.body for r in vendor_server.requests)


@pytest.mark.parametrize("vendor_server", ["llama-cpp"], indirect=True)
def test_llama_cpp_500_validation_body_steps_down_to_json_object_with_the_schema(vendor_server):
    provider = get_provider(vendor_server.url, "smollm2", max_retries=4)
    result = run(provider, ask())
    assert isinstance(result.parsed, ScorerOutput)
    refused, taken = vendor_server.requests  # the 500 was read as a refusal, not retried as a fault
    assert refused.body["response_format"]["type"] == "json_schema"
    assert taken.body["response_format"]["type"] == "json_object"
    assert taken.body["response_format"]["schema"]["title"] == "ScorerOutput"  # llama.cpp makes a grammar of it
    assert SCHEMA_MARKER not in taken.text  # and the prompt does not repeat it, only names the object
    assert "Answer with one ScorerOutput JSON object." in taken.text
    vendor_server.reset()
    run(get_provider(vendor_server.url, "smollm2"), ask())
    assert len(vendor_server.requests) == 1 and vendor_server.refused == 0


@pytest.mark.parametrize("vendor_server", ["deepseek"], indirect=True)
def test_deepseek_refuses_json_schema_unless_the_registry_knows_the_model(vendor_server):
    run(get_provider(vendor_server.url, "deepseek-chat"), ask())
    assert vendor_server.refused == 0 and vendor_server.requests[0].body["response_format"]["type"] == "json_object"
    vendor_server.reset()
    run(get_provider(vendor_server.url, "some-deepseek-finetune"), ask())
    # json_schema refused; json_object taken with the schema beside it, which DeepSeek ignores:
    # its prose reply is repaired with the schema written out, and that is learned
    refused, ignored, repaired = vendor_server.requests
    assert vendor_server.refused == 1 and ignored.body["response_format"]["schema"]["title"] == "ScorerOutput"
    assert SCHEMA_MARKER in repaired.messages[-1]["content"]
    vendor_server.reset()
    run(get_provider(vendor_server.url, "some-deepseek-finetune"), ask())
    (taken,) = vendor_server.requests  # the schema in the prompt at once, none beside response_format
    assert taken.body["response_format"] == {"type": "json_object"} and SCHEMA_MARKER in taken.text


@pytest.mark.parametrize("vendor_server", ["no-structured"], indirect=True)
def test_422_detail_list_steps_all_the_way_down_to_json_in_the_prompt(vendor_server):
    provider = get_provider(vendor_server.url, "plain-model")
    assert isinstance(run(provider, ask(system="You score.")).parsed, ScorerOutput)
    *refused, taken = vendor_server.requests
    assert len(refused) == 2 and vendor_server.refused == 2
    assert "response_format" not in taken.body and SCHEMA_MARKER in taken.text
    assert provider.structured_modes() == ["prompt"]


def _schema_copies(body) -> int:
    """How often ScorerOutput's strict schema is in a request body, in whatever form (structure or
    text): each copy closes its one object with additionalProperties."""
    return json.dumps(body).count("additionalProperties")


def _answer(kind):
    return lambda server: get_provider(server.url, "probe-model") if kind == "openai" else \
        get_provider("anthropic", "claude-haiku-4-5", base_url=server.anthropic_url)


@pytest.mark.parametrize("structured, grammar, kind, where", [
    (("json_schema",), True, "openai", "response_format"),
    (("json_object",), True, "openai", "response_format"),  # beside json_object: llama.cpp's grammar
    (("json_object",), False, "openai", "messages"),  # a server that ignores it: in the prompt
    (("prompt",), True, "openai", "messages"),
    (("tool",), True, "anthropic", "tools"),
    (("prompt",), True, "anthropic", "system"),
], ids=["json_schema", "json_object-grammar", "json_object-prompt", "prompt", "tool", "anthropic-prompt"])
def test_every_request_carries_the_schema_once_in_every_mode_and_its_repair(structured, grammar, kind, where):
    set_model_capabilities("probe-model" if kind == "openai" else "claude-*", structured=(*structured, "prompt"),
                           grammar=grammar)
    with FakeLLMServer() as server:
        server.script([{"score": 300, "reasoning": "x", "possible_mixed_population": False}])  # out of range
        provider = _answer(kind)(server)
        result = run(provider, ask(system="You score."))
        assert isinstance(result.parsed, ScorerOutput) and result.attempts == 2
        run(provider, ask(system="You score."))  # a value out of range is no sign of an ignored schema:
        first, repair, later = server.requests  # the next call goes out the same way
    assert _schema_copies(later.body[where]) == 1
    for body in (first.body, repair.body):
        assert _schema_copies(body) == 1, body
        assert _schema_copies(body[where]) == 1  # where the model or the server reads it
    assert "less than or equal to 100" in json.dumps(repair.messages[-1])  # the repair names the problem


def test_a_gateway_that_ignores_response_format_gets_one_repair_with_the_schema():
    with FakeLLMServer(ignore_response_format=True) as server:
        result = run(get_provider(server.url, "m"), ask())
        assert isinstance(result.parsed, ScorerOutput) and result.attempts == 2
        repair = server.requests[1].messages[-1]["content"]
        assert SCHEMA_MARKER in repair and "ScorerOutput" in repair


def test_user_rules_can_start_a_model_at_json_in_the_prompt():
    set_model_capabilities("plain-*", structured=("prompt",))
    with FakeLLMServer(vendor="no-structured") as server:
        run(get_provider(server.url, "plain-model"), ask())
        assert server.refused == 0 and len(server.requests) == 1


def test_an_empty_reply_is_a_fault_retried_and_never_cached(tmp_path):
    with FakeLLMServer() as server:
        provider = get_provider(server.url, "m", options={"backoff_base": 0.001})
        server.empty_next(1)
        assert run(provider, ask(schema=None)).text and len(server.requests) == 2
        server.empty_next(5)
        cached = CachedProvider(get_provider(server.url, "m", max_retries=1, options={"backoff_base": 0.001}),
                                ResponseCache(tmp_path / "c.sqlite"))
        with pytest.raises(TransientProviderError, match="empty reply"):
            run(cached, ask(schema=None))
        assert cached.cache.stats()["entries"] == 0


def test_structured_empty_reply_is_retried_not_repaired():
    with FakeLLMServer() as server:
        server.empty_next(1)
        result = run(get_provider(server.url, "m", options={"backoff_base": 0.001}), ask())
        assert result.attempts == 1 and len(server.requests) == 2


def test_a_dripping_server_cannot_hold_a_call_past_the_deadline():
    with FakeLLMServer() as server:
        provider = get_provider(server.url, "m", timeout=5, deadline=1, timeout_retries=1,
                                options={"backoff_base": 0.001})
        server.drip_next(1, interval=0.5)  # a byte every half second: the read timeout never fires
        assert run(provider, ask(schema=None)).text  # re-sent once (timeout_retries=1), then answered
        assert len(server.requests) == 2
        server.drip_next(2, interval=0.5)
        with pytest.raises(TransientProviderError, match="1 s deadline; raise deadline if.*sent 2 times"):
            run(provider, ask(schema=None))


def test_truncation_names_the_stage_option_in_the_users_spelling():
    with FakeLLMServer() as server:
        provider = get_provider(server.url, "m")
        server.truncate_next(2)
        with pytest.raises(ModelOutputError, match="raise scoring_max_tokens"):
            run(provider, ask(max_tokens_option="scoring_max_tokens"))
        server.truncate_next(1)
        with interface("cli"), pytest.raises(ModelOutputError, match="raise --boost-max-tokens"):
            run(provider, ask(schema=None, max_tokens_option="boost_max_tokens"))


def _priced(data):
    return httpx.MockTransport(lambda request: httpx.Response(200, json=data))


def test_a_reply_without_usage_has_unknown_cost_except_on_this_machine():
    reply = {"choices": [{"message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}]}
    remote = get_provider("openai", "gpt-4o", api_key="sk-test-00000000", transport=_priced(reply))
    assert run(remote, ask(schema=None)).cost_usd is None
    counted = {**reply, "usage": {"prompt_tokens": 1000, "completion_tokens": 100,
                                  "prompt_tokens_details": {"cached_tokens": 400}}}
    result = run(get_provider("openai", "gpt-4o", api_key="sk-test-00000000", transport=_priced(counted)),
                 ask(schema=None))
    assert result.usage.input_cached_tokens == 400
    assert result.cost_usd == pytest.approx((600 * 2.5 + 400 * 1.25 + 100 * 10) / 1e6)
    with FakeLLMServer(omit_usage=True) as server:
        assert run(get_provider(server.url, "gpt-4o"), ask(schema=None)).cost_usd == 0.0


def test_a_cache_hit_costs_nothing_and_counts_what_it_saved(tmp_path):
    reply = {"choices": [{"message": {"role": "assistant", "content": "fine, sk-abcdefghijklmnop"},
                          "finish_reason": "stop"}], "usage": {"prompt_tokens": 1000, "completion_tokens": 100}}
    cache = ResponseCache(tmp_path / "c.sqlite")
    provider = CachedProvider(get_provider("openai", "gpt-4o", api_key="sk-test-00000000", transport=_priced(reply)),
                              cache)
    first = run(provider, ask(schema=None))
    hit = run(provider, ask(schema=None))
    assert first.cost_usd > 0 and not first.cached
    assert hit.cached and hit.cost_usd == 0.0 and hit.saved_usd == pytest.approx(first.cost_usd)
    assert hit.usage.total == 0 and hit.usage.cached_tokens == 1100
    assert "sk-abcdefghijklmnop" not in hit.text  # stored redacted
