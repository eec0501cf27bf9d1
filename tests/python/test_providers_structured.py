"""Structured output: strict schemas, the JSON-in-prompt fallback, and the single repair retry."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pydantic import BaseModel, Field

from cassia.errors import ModelOutputError, ProviderError
from cassia.models import FormatterOutput, Message, ScorerOutput, Usage
from cassia.providers import CompletionRequest, RawReply, complete_json_in_prompt, get_provider
from cassia.providers.structured import SCHEMA_MARKER, parse_json_text, strict_schema
from cassia.testing.fake_request import content_text

SCORED = {"score": 64, "reasoning": "Two markers agree.", "possible_mixed_population": True}


def ask(schema=ScorerOutput, content="Score this: CD3D, CD3E", **kwargs):
    return CompletionRequest(messages=[Message(role="user", content=content)], schema=schema, **kwargs)


def openai(server, **kwargs):
    return get_provider(server.url, "m", **kwargs)


def anthropic(server, **kwargs):
    return get_provider("anthropic", base_url=server.anthropic_url, **kwargs)


class Inner(BaseModel):
    default: str = Field("x", examples=["y"])  # a property *named* like a keyword must survive
    weight: float | None = None


class Outer(BaseModel):
    name: str = "n"
    items: list[Inner] = []
    best: Inner | None = None


def test_strict_schema_closes_every_object_and_requires_every_property():
    schema = strict_schema(Outer)
    objects = [schema, schema["$defs"]["Inner"]]
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert "default" in schema["$defs"]["Inner"]["properties"]
    text = json.dumps(schema)
    assert '"examples"' not in text and '"default": "' not in text and '"default": []' not in text
    # pydantic still accepts what the strict schema describes
    assert Outer.model_validate({"name": "a", "items": [{"default": "d", "weight": None}], "best": None})


def test_parse_json_text_reads_plain_fenced_and_embedded_json():
    assert parse_json_text('{"a": 1}') == {"a": 1}
    assert parse_json_text('Here you go:\n```json\n{"a": 2}\n```\nDone.') == {"a": 2}
    assert parse_json_text('Sure. {"a": 3} Hope that helps') == {"a": 3}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json_text('{"a": ')


def test_parse_json_text_takes_raw_control_characters_inside_strings():
    # llama.cpp's JSON grammar lets a small model write a raw newline or tab inside a string
    assert parse_json_text('{"feedback": "line one\nline two\tend"}') == {"feedback": "line one\nline two\tend"}


@pytest.mark.parametrize("make", [openai, anthropic])
def test_native_structured_output_through_the_fake_server(fake_server, make):
    fake_server.script([SCORED])
    result = asyncio.run(make(fake_server).complete(ask()))
    assert result.parsed == ScorerOutput(**SCORED) and result.attempts == 1
    assert json.loads(result.text) == SCORED


@pytest.mark.parametrize("make", [openai, anthropic])
def test_default_structured_reply_is_the_models_example(fake_server, make):
    result = asyncio.run(make(fake_server).complete(ask(FormatterOutput)))
    assert result.parsed.main_cell_type == "T cell" and len(result.parsed.sub_cell_types) == 3


@pytest.mark.parametrize("make,refused", [(openai, ["json_schema", "json_object"]), (anthropic, ["tool"])])
def test_schema_rejection_steps_down_to_json_in_prompt_for_good(fake_server, make, refused):
    fake_server.reject_response_format = True
    provider = make(fake_server)
    first = asyncio.run(provider.complete(ask(system="You score annotations.")))
    assert isinstance(first.parsed, ScorerOutput) and provider.structured_modes() == ["prompt"]
    *rejected, retried = fake_server.requests
    assert len(rejected) == len(refused) and provider.learned.refused_modes == set(refused)
    assert all("response_format" in r.body or "tools" in r.body for r in rejected)
    assert "response_format" not in retried.body and "tools" not in retried.body
    assert SCHEMA_MARKER in retried.text and "You score annotations." in retried.text
    fake_server.requests.clear()
    asyncio.run(make(fake_server).complete(ask()))  # a new instance for the same server and model
    assert len(fake_server.requests) == 1  # no second rejected attempt: the step down is remembered


def test_json_in_prompt_reads_a_fenced_reply(fake_server):
    fake_server.reject_response_format = True
    fake_server.add_rule(SCHEMA_MARKER, "Here it is:\n```json\n" + json.dumps(SCORED) + "\n```")
    result = asyncio.run(openai(fake_server).complete(ask()))
    assert result.parsed.score == 64


def test_unrelated_400_does_not_trigger_the_fallback():
    transport = httpx.MockTransport(lambda r: httpx.Response(400, json={"error": {"message": "temperature too high"}}))
    provider = get_provider("http://127.0.0.1:1/v1", "m", transport=transport)
    with pytest.raises(ProviderError, match="temperature too high"):
        asyncio.run(provider.complete(ask(temperature=9)))
    assert provider.structured_modes()[0] == "json_schema" and not provider.learned.dropped


@pytest.mark.parametrize("make", [openai, anthropic])
def test_invalid_reply_gets_one_repair_with_the_validation_error(fake_server, make):
    fake_server.script([{"score": 300, "reasoning": "x", "possible_mixed_population": False}, SCORED])
    result = asyncio.run(make(fake_server).complete(ask()))
    assert result.parsed.score == 64 and result.attempts == 2
    first, repair = fake_server.requests
    assert result.usage.input_tokens == len(first.text) // 4 + len(repair.text) // 4  # both calls counted
    sent = repair.messages
    assert sent[-2]["role"] == "assistant" and '"score": 300' in sent[-2]["content"]
    repair_text = content_text(sent[-1]["content"])  # Anthropic: a block carrying the cache breakpoint
    assert sent[-1]["role"] == "user" and "score" in repair_text and "100" in repair_text


@pytest.mark.parametrize("make", [openai, anthropic])
def test_second_invalid_reply_raises_model_output_error(fake_server, make):
    fake_server.script([{"score": "high"}, {"reasoning": "still wrong"}])
    with pytest.raises(ModelOutputError, match="usable ScorerOutput after one repair attempt") as info:
        asyncio.run(make(fake_server).complete(ask()))
    assert len(fake_server.requests) == 2
    assert info.value.attempts == 2 and info.value.usage.total > 0


def test_anthropic_reply_without_tool_use_is_repaired(fake_server):
    fake_server.script(["I think the score is about 60.", SCORED])
    result = asyncio.run(anthropic(fake_server).complete(ask()))
    assert result.parsed.score == 64 and result.attempts == 2


def test_malformed_json_is_repaired_once(fake_server):
    fake_server.malformed_next(1)
    result = asyncio.run(openai(fake_server).complete(ask()))
    assert result.parsed.score == 80 and result.attempts == 2
    assert "not valid JSON" in fake_server.requests[1].messages[-1]["content"]


def test_malformed_json_twice_is_a_model_output_error(fake_server):
    fake_server.malformed_next(2)
    with pytest.raises(ModelOutputError, match="not valid JSON"):
        asyncio.run(openai(fake_server).complete(ask()))


@pytest.mark.parametrize("make", [openai, anthropic])
def test_truncated_structured_reply_is_repaired_once_then_names_the_option_to_raise(fake_server, make):
    fake_server.truncate_next(1)
    assert asyncio.run(make(fake_server).complete(ask())).attempts == 2  # the repair asks for a shorter object
    assert "cut off at the output-token limit" in fake_server.requests[1].last_user
    fake_server.truncate_next(2)
    with pytest.raises(ModelOutputError, match="output-token limit.*raise max_tokens") as info:
        asyncio.run(make(fake_server).complete(ask()))
    assert info.value.attempts == 2


@pytest.mark.parametrize("make", [openai, anthropic])
def test_truncated_text_reply_is_an_error_not_a_silent_stub(fake_server, make):
    fake_server.truncate_next(1)
    with pytest.raises(ModelOutputError, match=r"output-token limit \(200 tokens\).*raise max_tokens"):
        asyncio.run(make(fake_server).complete(ask(schema=None, max_tokens=200)))


def test_complete_json_in_prompt_for_text_only_backends():
    seen: list[tuple[list[Message], str | None]] = []
    replies = iter(["no JSON here, sorry", "```json\n" + json.dumps(SCORED) + "\n```"])

    async def send_text(messages, system):
        seen.append((messages, system))
        return RawReply(text=next(replies), usage=Usage(input_tokens=10, output_tokens=5))

    result = asyncio.run(complete_json_in_prompt(send_text, ask(system="Be strict.")))
    assert result.parsed.score == 64 and result.attempts == 2 and result.usage.total == 30
    first_system = seen[0][1]
    assert first_system.startswith("Be strict.") and SCHEMA_MARKER in first_system
    assert json.loads(first_system.split(SCHEMA_MARKER, 1)[1]) == strict_schema(ScorerOutput)
    assert seen[1][0][-1].role == "user" and "not valid JSON" in seen[1][0][-1].content
