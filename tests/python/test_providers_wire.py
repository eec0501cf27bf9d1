"""Each adapter's wire format, checked against httpx.MockTransport: URL, headers, body, usage."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cassia.errors import ModelOutputError
from cassia.models import FormatterOutput, Message, ScorerOutput
from cassia.providers import CompletionRequest, get_provider
from cassia.providers.structured import strict_schema

KEY = "sk-wire-test-0123456789"
FORMATTED = {"main_cell_type": "B cell", "sub_cell_types": ["naive B cell"], "mixed_cell_types": [],
             "key_markers": ["MS4A1", "CD79A"]}


class Recorder:
    """A MockTransport handler that records requests and answers from a list of (status, json)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, payload = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return httpx.Response(status, json=payload)

    def body(self, i: int = -1) -> dict:
        return json.loads(self.requests[i].content)


def openai_reply(content, *, finish="stop", prompt=11, completion=7):
    return {"model": "gpt-4.1-2025-04-14", "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
            "finish_reason": finish}], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def anthropic_text(text, *, stop="end_turn"):
    return {"model": "claude-sonnet-4-5", "content": [{"type": "text", "text": text}], "stop_reason": stop,
            "usage": {"input_tokens": 21, "output_tokens": 9}}


def anthropic_tool(name, data):
    return {"model": "claude-sonnet-4-5", "content": [{"type": "tool_use", "id": "t1", "name": name, "input": data}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 30, "output_tokens": 12}}


def ask(content="Markers: CD3D, CD3E", **kwargs):
    return CompletionRequest(messages=[Message(role="user", content=content)], **kwargs)


def test_openai_text_request_wire_format():
    rec = Recorder((200, openai_reply("A T cell cluster.")))
    provider = get_provider("openai", api_key=KEY, transport=httpx.MockTransport(rec))
    result = asyncio.run(provider.complete(ask(system="You annotate clusters.", temperature=0.0, seed=7,
                                               max_tokens=300)))
    request = rec.requests[0]
    assert request.method == "POST" and str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = rec.body()
    assert body["model"] == "gpt-4.1"
    assert body["messages"] == [{"role": "system", "content": "You annotate clusters."},
                                {"role": "user", "content": "Markers: CD3D, CD3E"}]
    assert body["temperature"] == 0.0 and body["seed"] == 7
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body  # OpenAI's newer field
    assert "response_format" not in body
    assert result.text == "A T cell cluster." and result.parsed is None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 7)
    assert result.provider == "openai" and result.model == "gpt-4.1-2025-04-14"
    assert result.cost_usd == pytest.approx((11 * 2.00 + 7 * 8.00) / 1e6)
    assert result.latency_s > 0 and result.attempts == 1


def test_openai_compatible_vendor_sends_plain_max_tokens_and_omits_unset_fields():
    rec = Recorder((200, openai_reply("ok")))
    provider = get_provider("deepseek", api_key=KEY, transport=httpx.MockTransport(rec))
    asyncio.run(provider.complete(ask(max_tokens=50)))
    assert str(rec.requests[0].url) == "https://api.deepseek.com/v1/chat/completions"
    body = rec.body()
    assert body["max_tokens"] == 50 and body["model"] == "deepseek-chat"
    assert "temperature" not in body and "seed" not in body


def test_local_server_without_key_sends_no_authorization_header():
    rec = Recorder((200, openai_reply("ok")))
    provider = get_provider("http://127.0.0.1:8000/v1", "qwen", transport=httpx.MockTransport(rec))
    result = asyncio.run(provider.complete(ask()))
    assert "authorization" not in rec.requests[0].headers
    assert str(rec.requests[0].url) == "http://127.0.0.1:8000/v1/chat/completions"
    assert result.cost_usd == 0.0 and result.provider == "custom"


def test_openai_structured_request_sends_strict_json_schema():
    rec = Recorder((200, openai_reply(json.dumps(FORMATTED))))
    provider = get_provider("openai", api_key=KEY, transport=httpx.MockTransport(rec))
    result = asyncio.run(provider.complete(ask(schema=FormatterOutput)))
    response_format = rec.body()["response_format"]
    assert response_format["type"] == "json_schema"
    spec = response_format["json_schema"]
    assert spec["name"] == "FormatterOutput" and spec["strict"] is True
    assert spec["schema"] == strict_schema(FormatterOutput)
    assert spec["schema"]["additionalProperties"] is False
    assert set(spec["schema"]["required"]) == set(FormatterOutput.model_fields)
    assert "examples" not in json.dumps(spec["schema"])  # OpenAI refuses 'examples' in strict schemas
    assert isinstance(result.parsed, FormatterOutput) and result.parsed.main_cell_type == "B cell"
    assert json.loads(result.text) == FORMATTED


def test_refusal_becomes_model_output_error():
    reply = {"choices": [{"message": {"role": "assistant", "content": None, "refusal": "I cannot help."},
                          "finish_reason": "stop"}]}
    provider = get_provider("openai", api_key=KEY, transport=httpx.MockTransport(Recorder((200, reply))))
    with pytest.raises(ModelOutputError, match="refused"):
        asyncio.run(provider.complete(ask(schema=ScorerOutput)))


def test_anthropic_text_request_wire_format():
    rec = Recorder((200, anthropic_text("Looks like B cells.")))
    provider = get_provider("anthropic", api_key=KEY, transport=httpx.MockTransport(rec))
    messages = [Message(role="system", content="Extra rule."), Message(role="user", content="MS4A1, CD79A")]
    result = asyncio.run(provider.complete(CompletionRequest(messages=messages, system="Be brief.", temperature=0.2,
                                                             seed=3)))
    request = rec.requests[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    body = rec.body()
    # no "system" role in the Messages API; the system prompt is a prompt-cache breakpoint
    assert body["system"] == [{"type": "text", "text": "Be brief.\n\nExtra rule.", "cache_control": {"type": "ephemeral"}}]
    assert body["messages"] == [{"role": "user", "content": "MS4A1, CD79A"}]
    assert body["max_tokens"] == 4096 and body["temperature"] == 0.2 and "seed" not in body
    assert body["model"] == "claude-sonnet-4-5" and "tools" not in body
    assert result.text == "Looks like B cells."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (21, 9)
    assert result.cost_usd == pytest.approx((21 * 3 + 9 * 15) / 1e6)


def test_anthropic_structured_request_forces_a_tool_and_reads_its_input():
    rec = Recorder((200, anthropic_tool("FormatterOutput", FORMATTED)))
    provider = get_provider("anthropic", api_key=KEY, transport=httpx.MockTransport(rec))
    result = asyncio.run(provider.complete(ask(schema=FormatterOutput, max_tokens=800)))
    body = rec.body()
    assert body["max_tokens"] == 800
    assert body["tool_choice"] == {"type": "tool", "name": "FormatterOutput"}
    (tool,) = body["tools"]
    assert tool["name"] == "FormatterOutput" and tool["description"]
    schema = strict_schema(FormatterOutput)
    assert tool["description"] == schema.pop("description")  # said once, in the tool, not again in its schema
    assert tool["input_schema"] == schema and tool["cache_control"] == {"type": "ephemeral"}
    assert result.parsed == FormatterOutput(**FORMATTED)
    assert result.usage.total == 42


def test_anthropic_base_url_may_or_may_not_end_in_v1():
    for base in ("http://127.0.0.1:9000", "http://127.0.0.1:9000/v1"):
        rec = Recorder((200, anthropic_text("ok")))
        provider = get_provider("anthropic", base_url=base, transport=httpx.MockTransport(rec))
        asyncio.run(provider.complete(ask()))
        assert str(rec.requests[0].url) == "http://127.0.0.1:9000/v1/messages"
        assert "x-api-key" not in rec.requests[0].headers  # local, no key set


def test_unknown_model_price_gives_no_cost():
    rec = Recorder((200, openai_reply("ok")))
    provider = get_provider("openrouter", "some-lab/brand-new-model", api_key=KEY, transport=httpx.MockTransport(rec))
    assert asyncio.run(provider.complete(ask())).cost_usd is None
