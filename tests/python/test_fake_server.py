"""The fake LLM server itself: both protocols, scripting, faults, recording and its command line."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from cassia.providers.structured import json_instructions
from cassia.testing import FakeLLMServer
from cassia.testing.fake_replies import genes_in, minimal_instance

USER = "Ranked marker genes: MS4A1, CD79A, CD19, BANK1"


def chat(server, content=USER, **extra):
    body = {"model": "fake-1", "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{server.url}/chat/completions", json=body, headers={"Authorization": "Bearer sk-test-1234567"})


def messages(server, content=USER, **extra):
    body = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{server.anthropic_url}/v1/messages", json=body, headers={"x-api-key": "k-123456"})


def content_of(response):
    return response.json()["choices"][0]["message"]["content"]


def test_openai_reply_shape_usage_and_genes(fake_server):
    response = chat(fake_server)
    data = response.json()
    assert response.status_code == 200 and data["object"] == "chat.completion" and data["model"] == "fake-1"
    text = content_of(response)
    assert "MS4A1, CD79A, CD19" in text
    assert data["usage"] == {"prompt_tokens": len(USER) // 4, "completion_tokens": len(text) // 4,
                             "total_tokens": len(USER) // 4 + len(text) // 4,
                             "prompt_tokens_details": {"cached_tokens": 0}}  # a short prompt: nothing cached
    assert data["choices"][0]["finish_reason"] == "stop"
    assert content_of(chat(fake_server)) == text  # deterministic


def test_anthropic_reply_shape(fake_server):
    data = messages(fake_server, system="Be brief.").json()
    assert data["type"] == "message" and data["stop_reason"] == "end_turn"
    assert data["content"][0]["type"] == "text" and "MS4A1" in data["content"][0]["text"]
    assert data["usage"]["input_tokens"] == len("Be brief.\n" + USER) // 4


def test_models_endpoint_and_unknown_paths(fake_server):
    assert httpx.get(f"{fake_server.url}/models").json()["data"][0]["id"] == "fake-model"
    assert httpx.post(f"{fake_server.url}/embeddings", json={}).status_code == 404


def test_every_request_is_recorded_with_headers(fake_server):
    chat(fake_server)
    messages(fake_server)
    first, second = fake_server.requests
    assert first.path == "/v1/chat/completions" and first.headers["authorization"] == "Bearer sk-test-1234567"
    assert first.body["messages"][0]["content"] == USER and first.protocol == "openai"
    assert second.headers["x-api-key"] == "k-123456" and second.protocol == "anthropic"
    assert first["body"] == first.body and first["headers"]["authorization"].startswith("Bearer")  # dict-style too


def test_required_key_is_checked(fake_server):
    fake_server.api_key = "sk-test-1234567"
    assert chat(fake_server).status_code == 200
    assert messages(fake_server).status_code == 401


def test_script_then_rules_then_default(fake_server):
    fake_server.add_rule("BANK1", "rule reply", times=2)
    fake_server.add_rule(lambda request: "CD19" in request.last_user, lambda request: f"callable {len(request.text)}")
    fake_server.script(["first", "second"])
    replies = [content_of(chat(fake_server)) for _ in range(5)]
    assert replies[:4] == ["first", "second", "rule reply", "rule reply"]
    assert replies[4] == f"callable {len(USER)}"
    assert "MS4A1" in content_of(chat(fake_server, "genes: MS4A1"))  # no rule matches: the default


def test_schema_request_answered_with_schema_example_or_minimal_instance(fake_server):
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 2}, "tags": {"type": "array",
              "items": {"type": "string"}}}, "required": ["n", "tags"], "examples": [{"n": 5, "tags": ["a"]}]}
    response_format = {"type": "json_schema", "json_schema": {"name": "Thing", "schema": schema, "strict": True}}
    assert json.loads(content_of(chat(fake_server, response_format=response_format))) == {"n": 5, "tags": ["a"]}
    del schema["examples"]
    assert json.loads(content_of(chat(fake_server, response_format=response_format))) == {"n": 2, "tags": []}


def test_json_in_prompt_request_gets_json(fake_server):
    from cassia.models import ScorerOutput

    reply = content_of(chat(fake_server, json_instructions(ScorerOutput) + "\n\nScore it."))
    assert ScorerOutput.model_validate_json(reply).score == 80


def test_anthropic_forced_tool_gets_tool_use(fake_server):
    tool = {"name": "Pick", "input_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}
    data = messages(fake_server, tools=[tool], tool_choice={"type": "tool", "name": "Pick"}).json()
    assert data["stop_reason"] == "tool_use"
    assert data["content"] == [{"type": "tool_use", "id": data["content"][0]["id"], "name": "Pick",
                                "input": {"ok": True}}]


def test_fault_injection(fake_server):
    fake_server.fail_next(1, status=429, retry_after=2)
    fake_server.fail_next(1, status=500, retry_after=None)
    fake_server.garble_next(1)
    fake_server.truncate_next(1)
    limited = chat(fake_server)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    failed = chat(fake_server)
    assert failed.status_code == 500 and "retry-after" not in failed.headers
    garbled = chat(fake_server)
    assert garbled.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(garbled.text)
    cut = chat(fake_server).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert content_of(chat(fake_server)).startswith(cut["choices"][0]["message"]["content"])


def test_malformed_fault_breaks_the_json(fake_server):
    fake_server.script([{"a": 1, "b": "two"}])
    fake_server.malformed_next()
    with pytest.raises(json.JSONDecodeError):
        json.loads(content_of(chat(fake_server)))


def test_reject_response_format(fake_server):
    fake_server.reject_response_format = True
    response_format = {"type": "json_schema", "json_schema": {"name": "X", "schema": {"type": "object"}}}
    rejected = chat(fake_server, response_format=response_format)
    assert rejected.status_code == 400 and "response_format" in rejected.json()["error"]["message"]
    assert chat(fake_server).status_code == 200


def test_reset_forgets_everything(fake_server):
    fake_server.script(["queued"])
    fake_server.fail_next(3)
    chat(fake_server)
    fake_server.reset()
    assert fake_server.requests == [] and content_of(chat(fake_server)) != "queued"


def test_start_stop_and_context_manager():
    server = FakeLLMServer().start()
    url = server.url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert server.anthropic_url == url[: -len("/v1")]
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models")
    with pytest.raises(RuntimeError, match="not running"):
        server.url


def test_helpers_for_default_replies():
    assert genes_in("Markers: CD3D, HLA-DRA, IL7R and JSON then MS4A1", limit=10) == ["CD3D", "HLA-DRA", "IL7R", "MS4A1"]
    schema = {"$defs": {"Inner": {"type": "object", "properties": {"v": {"anyOf": [{"type": "null"},
              {"type": "number", "minimum": 1.5}]}}}}, "type": "object",
              "properties": {"inner": {"$ref": "#/$defs/Inner"}, "kind": {"enum": ["a", "b"]},
                             "many": {"type": "array", "minItems": 2, "items": {"type": "boolean"}}}}
    assert minimal_instance(schema) == {"inner": {"v": 1.5}, "kind": "a", "many": [True, True]}


def test_command_line_prints_its_url_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "cassia.testing.fake_server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        reply = httpx.post(f"{url}/chat/completions", json={"model": "m", "messages": [{"role": "user",
                           "content": "CD3D"}]}, timeout=10)
        assert "CD3D" in content_of(reply)
        # A process that imported nothing else still answers an agent's schema with that agent's
        # example (the R tests and vignettes talk to the server this way): BoostStep validates.
        from cassia.agents.boost import BoostStep
        from cassia.providers.structured import strict_schema
        request = {"model": "m", "messages": [{"role": "user", "content": "CD3D"}], "response_format": {
            "type": "json_schema", "json_schema": {"name": "BoostStep", "schema": strict_schema(BoostStep)}}}
        reply = httpx.post(f"{url}/chat/completions", json=request, timeout=10)
        BoostStep.model_validate_json(content_of(reply))
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "Warning" not in err
