"""Provider prompt caching: breakpoints on the Anthropic wire, cached tokens counted and priced apart."""

from __future__ import annotations

import asyncio
import json

import httpx
import pandas as pd
import pytest

import cassia
from cassia.models import Message, ReviewOutput, Usage
from cassia.providers import CompletionRequest, get_provider, pricing
from cassia.testing import FakeLLMServer

EPHEMERAL = {"type": "ephemeral"}
REVIEWED = {"consistent": True, "concerns": [], "feedback": "Sound.", "main_cell_type": "T cell",
            "sub_cell_types": [], "mixed_cell_types": [], "key_markers": ["CD3D"]}
LONG_SYSTEM = "You annotate clusters of single-cell RNA-seq data from their ranked marker genes. " * 60  # ~1,250 tokens


def recorder(*replies):
    bodies, answers = [], list(replies)

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        status, payload = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(status, json=payload)

    return httpx.MockTransport(handler), bodies


def tool_reply(usage=None):
    return {"model": "claude-sonnet-4-5", "stop_reason": "tool_use",
            "content": [{"type": "tool_use", "id": "t1", "name": "ReviewOutput", "input": REVIEWED}],
            "usage": usage or {"input_tokens": 30, "output_tokens": 12}}


def review_request(messages):
    return CompletionRequest(messages=messages, system="You review annotations.", schema=ReviewOutput)


def test_anthropic_breakpoints_on_tool_system_and_a_conversation_under_way():
    transport, bodies = recorder((200, tool_reply()))
    provider = get_provider("anthropic", "claude-sonnet-4-5", api_key="sk-test-cache", transport=transport)
    asyncio.run(provider.complete(review_request([Message(role="user", content="Markers: CD3D, CD3E")])))
    first = bodies[0]
    assert first["tools"][0]["cache_control"] == EPHEMERAL
    assert first["system"] == [{"type": "text", "text": "You review annotations.", "cache_control": EPHEMERAL}]
    assert first["messages"] == [{"role": "user", "content": "Markers: CD3D, CD3E"}]  # one-shot: no write
    # a turn of a conversation under way is marked, so the next turn reads the history from the cache
    turns = [Message(role="user", content="Markers: CD3D"), Message(role="assistant", content="T cell."),
             Message(role="user", content="Reconsider CD3D.")]
    asyncio.run(provider.complete(review_request(turns)))
    second = bodies[1]
    assert second["messages"][:2] == [{"role": "user", "content": "Markers: CD3D"},
                                      {"role": "assistant", "content": "T cell."}]
    assert second["messages"][2] == {"role": "user", "content": [
        {"type": "text", "text": "Reconsider CD3D.", "cache_control": EPHEMERAL}]}
    assert json.dumps(second).count("cache_control") == 3  # tool, system, latest turn (Anthropic allows 4)


def test_a_server_refusing_cache_control_gets_requests_without_it():
    refusal = {"type": "error", "error": {"type": "invalid_request_error",
                                          "message": "tools.0.cache_control: Extra inputs are not permitted"}}
    transport, bodies = recorder((400, refusal), (200, tool_reply()))
    provider = get_provider("anthropic", "claude-sonnet-4-5", base_url="http://127.0.0.1:9", transport=transport)
    result = asyncio.run(provider.complete(review_request([Message(role="user", content="CD3D")])))
    assert result.parsed.main_cell_type == "T cell"
    assert "cache_control" in json.dumps(bodies[0]) and "cache_control" not in json.dumps(bodies[1])
    assert bodies[1]["tools"] and bodies[1]["system"] == "You review annotations."  # still a forced tool
    asyncio.run(provider.complete(review_request([Message(role="user", content="CD3E")])))
    assert len(bodies) == 3 and "cache_control" not in json.dumps(bodies[2])  # learned for the run


def test_anthropic_cache_reads_are_counted_and_priced_apart():
    usage = {"input_tokens": 50, "cache_read_input_tokens": 1200, "cache_creation_input_tokens": 0, "output_tokens": 10}
    transport, _ = recorder((200, tool_reply(usage)))
    provider = get_provider("anthropic", "claude-sonnet-4-5", api_key="sk-test-cache", transport=transport)
    result = asyncio.run(provider.complete(review_request([Message(role="user", content="CD3D")])))
    assert result.usage.input_tokens == 1250 and result.usage.input_cached_tokens == 1200
    price = pricing.price_of("claude-sonnet-4-5")
    assert result.cost_usd == pytest.approx((50 * price.input + 1200 * price.cached_input + 10 * price.output) / 1e6)
    assert result.cost_usd < pricing.cost_usd("claude-sonnet-4-5", Usage(input_tokens=1250, output_tokens=10))


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_fake_server_imitates_prompt_caching_of_a_repeated_prefix(vendor):
    with FakeLLMServer() as server:
        provider = (get_provider("anthropic", "claude-sonnet-4-5", base_url=server.anthropic_url) if vendor == "anthropic"
                    else get_provider(server.url, "gpt-4o"))
        provider.local = False  # priced as the vendor would price it

        def ask(markers):
            request = CompletionRequest(messages=[Message(role="user", content=markers)], system=LONG_SYSTEM)
            return asyncio.run(provider.complete(request))

        first, second = ask("Markers: CD3D, CD3E"), ask("Markers: MS4A1, CD79A")
    assert first.usage.input_cached_tokens == 0
    assert second.usage.input_cached_tokens >= 1024 and second.usage.input_tokens == first.usage.input_tokens
    assert second.cost_usd < first.cost_usd
    if vendor == "openai":
        assert (second.usage.input_cached_tokens - 1024) % 128 == 0  # OpenAI caches in steps of 128


def test_a_run_records_cached_input_tokens_in_the_manifest_and_prices_them(tmp_path):
    markers = pd.DataFrame({"cluster": ["t", "t", "b", "b", "m", "m"],
                            "gene": ["CD3D", "CD3E", "MS4A1", "CD79A", "LYZ", "CD14"],
                            "avg_log2FC": [3.0, 2.0] * 3, "p_val_adj": [1e-9] * 6, "pct.1": [0.9] * 6, "pct.2": [0.1] * 6})
    with FakeLLMServer() as server:
        server.prompt_cache.min_tokens = 100  # our system prompts are shorter than the vendors' minimum
        provider = get_provider("anthropic", "claude-sonnet-4-5", base_url=server.anthropic_url)
        provider.local = False
        result = cassia.run_batch(markers, provider=provider, tissue="blood", out_dir=tmp_path / "run",
                                  use_cache=False, progress=False, max_workers=1)
    usage = result.manifest["usage"]
    assert usage["input_cached_tokens"] > 0  # the second and third clusters read the shared system prompts
    stages = [s for r in result.results for s in r.stages.values()]
    full = sum(pricing.cost_usd(s.model, s.usage.model_copy(update={"input_cached_tokens": 0})) for s in stages)
    assert result.manifest["cost_usd"] == pytest.approx(sum(s.cost_usd for s in stages), abs=1e-6)
    assert result.manifest["cost_usd"] < full
    # per stage in the manifest and the report: who answered, calls, cached tokens, dollars
    by_stage = result.manifest["stages"]
    assert set(by_stage) == {"annotator", "review"} and by_stage["review"]["calls"] == 3
    assert sum(s["usage"]["input_cached_tokens"] for s in by_stage.values()) == usage["input_cached_tokens"]
    assert sum(s["cost_usd"] for s in by_stage.values()) == pytest.approx(result.manifest["cost_usd"], abs=1e-5)
    report = cassia.report.render_report(result.run_dir).read_text()
    assert "Cost by stage" in report and "of them cached" in report


def test_the_next_turn_of_a_conversation_reads_what_the_last_turn_marked():
    with FakeLLMServer() as server:
        provider = get_provider("anthropic", "claude-sonnet-4-5", base_url=server.anthropic_url)
        history = [Message(role="user", content="Markers: CD3D, CD3E. " + LONG_SYSTEM),
                   Message(role="assistant", content="T cell."), Message(role="user", content="Check CD3E.")]
        first = asyncio.run(provider.complete(CompletionRequest(messages=history, system="Be brief.")))
        longer = history + [Message(role="assistant", content="CD3E holds."), Message(role="user", content="And CD2?")]
        second = asyncio.run(provider.complete(CompletionRequest(messages=longer, system="Be brief.")))
    assert first.usage.input_cached_tokens == 0  # written, not read
    # the whole first turn (system prompt and three messages) came from the cache
    assert second.usage.input_cached_tokens >= first.usage.input_tokens - 2


def test_anthropic_cache_writes_are_priced_at_the_cache_write_rate():
    usage = {"input_tokens": 50, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 1200, "output_tokens": 10}
    transport, _ = recorder((200, tool_reply(usage)))
    provider = get_provider("anthropic", "claude-sonnet-4-5", api_key="sk-test-cache", transport=transport)
    result = asyncio.run(provider.complete(review_request([Message(role="user", content="CD3D")])))
    assert result.usage.input_tokens == 1250 and result.usage.input_cache_write_tokens == 1200
    price = pricing.price_of("claude-sonnet-4-5")
    assert price.cache_write == pytest.approx(1.25 * price.input)
    assert result.cost_usd == pytest.approx((50 * price.input + 1200 * price.cache_write + 10 * price.output) / 1e6)
