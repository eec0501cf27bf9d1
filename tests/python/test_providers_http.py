"""Shared HTTP behaviour: retries, Retry-After, errors that are not retried, the in-flight limit."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from cassia.spelling import interface
from cassia.errors import AuthError, ProviderError, TransientProviderError
from cassia.models import Message
from cassia.providers import CompletionRequest, get_provider
from cassia.providers.http import parse_retry_after

KEY = "sk-http-test-0123456789"
OK = {"choices": [{"message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
FAST = {"backoff_base": 0.001}


def ask(content="CD3D, CD3E"):
    return CompletionRequest(messages=[Message(role="user", content=content)])


def scripted_transport(*responses):
    """Answer with the given responses (or raise the given exceptions) in order; count calls."""
    queue = list(responses)
    calls = []

    def handler(request):
        calls.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), calls


def provider_with(transport, **kwargs):
    provider = get_provider("openai", api_key=KEY, transport=transport, **kwargs)
    delays: list[float] = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    provider._sleep = fake_sleep  # observe the waits instead of waiting
    return provider, delays


def test_retry_after_seconds_is_honoured_on_429():
    transport, calls = scripted_transport(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}}),
        httpx.Response(200, json=OK),
    )
    provider, delays = provider_with(transport)
    result = asyncio.run(provider.complete(ask()))
    assert result.text == "fine" and len(calls) == 2
    assert len(delays) == 1 and 7 <= delays[0] < 7.5


def test_server_errors_back_off_exponentially_with_jitter():
    transport, calls = scripted_transport(*[httpx.Response(503, text="busy")] * 3, httpx.Response(200, json=OK))
    provider, delays = provider_with(transport, options={"backoff_base": 0.1})
    asyncio.run(provider.complete(ask()))
    assert len(calls) == 4
    ceilings = [0.1, 0.2, 0.4]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_gives_up_after_max_retries_with_a_transient_error():
    transport, calls = scripted_transport(httpx.Response(500, json={"error": {"message": "boom"}}))
    provider, delays = provider_with(transport, max_retries=2, options=FAST)
    with pytest.raises(TransientProviderError, match="gave up after 3 attempts") as info:
        asyncio.run(provider.complete(ask()))
    assert len(calls) == 3 and len(delays) == 2
    assert info.value.status == 500 and "boom" in str(info.value)


def test_timeouts_and_dropped_connections_are_retried():
    transport, calls = scripted_transport(
        httpx.ReadTimeout("too slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("reset"),
        httpx.Response(200, json=OK),
    )
    provider, delays = provider_with(transport, options=FAST)
    assert asyncio.run(provider.complete(ask())).text == "fine"
    assert len(calls) == 4 and len(delays) == 3


def test_a_body_that_is_not_json_is_retried():
    transport, calls = scripted_transport(httpx.Response(200, text="<html>proxy</html>"), httpx.Response(200, json=OK))
    provider, _ = provider_with(transport, options=FAST)
    assert asyncio.run(provider.complete(ask())).text == "fine" and len(calls) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_not_retried_and_say_which_key_to_check(status):
    transport, calls = scripted_transport(
        httpx.Response(status, json={"error": {"message": f"Incorrect API key provided: {KEY}"}}))
    provider, delays = provider_with(transport)
    with pytest.raises(AuthError) as info:
        asyncio.run(provider.complete(ask()))
    assert len(calls) == 1 and delays == []
    message = str(info.value)
    assert "OPENAI_API_KEY" in message and f"HTTP {status}" in message
    assert KEY not in message  # the server echoed the key; the message must not


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_errors_are_not_retried(status):
    transport, calls = scripted_transport(httpx.Response(status, json={"error": {"message": "no such model"}}))
    provider, _ = provider_with(transport)
    with pytest.raises(ProviderError) as info:
        asyncio.run(provider.complete(ask()))
    assert not isinstance(info.value, TransientProviderError)
    assert len(calls) == 1 and info.value.status == status and "no such model" in str(info.value)
    if status == 404:
        assert "model name" in str(info.value)


def test_retry_after_header_from_the_fake_server(fake_server):
    fake_server.fail_next(2, status=429, retry_after=1)
    provider = get_provider(fake_server.url, "m")
    delays = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    provider._sleep = fake_sleep
    assert asyncio.run(provider.complete(ask())).text
    assert len(fake_server.requests) == 3 and all(d >= 1 for d in delays) and len(delays) == 2


def test_slow_reply_times_out_then_succeeds(fake_server):
    fake_server.slow_next(1, delay=2.0)
    provider = get_provider(fake_server.url, "m", timeout=0.5, options=FAST)
    result = asyncio.run(provider.complete(ask()))
    assert "CD3D" in result.text and len(fake_server.requests) >= 2  # more only on a very loaded machine


def test_timeout_message_names_the_setting():
    transport, _ = scripted_transport(httpx.ReadTimeout("too slow"))
    provider, _ = provider_with(transport, max_retries=0, timeout=12)
    with pytest.raises(TransientProviderError, match="within 12 s; raise timeout if"):
        asyncio.run(provider.complete(ask()))
    with interface("cli"), pytest.raises(TransientProviderError, match="within 12 s; raise --timeout if"):
        asyncio.run(provider.complete(ask()))


@pytest.mark.parametrize("limit", [1, 3])
def test_requests_in_flight_never_exceed_the_provider_limit(fake_server, limit):
    fake_server.latency = 0.1
    provider = get_provider(fake_server.url, "m", max_concurrency=limit)

    async def many():
        return await asyncio.gather(*(provider.complete(ask(f"gene{i} CD3D")) for i in range(4 * limit + 2)))

    results = asyncio.run(many())
    assert len(results) == 4 * limit + 2
    assert fake_server.max_in_flight == limit  # 4x more callers than slots, so every slot filled


def test_latency_and_usage_recorded(fake_server):
    fake_server.latency = 0.05
    result = asyncio.run(get_provider(fake_server.url, "m").complete(ask("Markers: CD3D, CD3E, IL7R")))
    assert result.latency_s >= 0.05
    assert result.usage.input_tokens == len("Markers: CD3D, CD3E, IL7R") // 4
    assert result.usage.output_tokens == len(result.text) // 4


def test_provider_survives_repeated_asyncio_run_and_closes_each_loops_client(fake_server):
    provider = get_provider(fake_server.url, "m")
    clients = []
    for _ in range(3):
        asyncio.run(provider.complete(ask()))
        clients += [state.client for state in provider._states.values()]
    assert len(set(map(id, clients))) == 3  # a fresh client per event loop
    assert all(client.is_closed for client in clients)  # closed when asyncio.run ended


def test_aclose_closes_the_running_loops_client(fake_server):
    provider = get_provider(fake_server.url, "m")

    async def use_and_close():
        await provider.complete(ask())
        (state,) = provider._states.values()
        await provider.aclose()
        return state.client

    assert asyncio.run(use_and_close()).is_closed


def test_parse_retry_after_forms():
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31


def test_error_inside_a_200_reply_is_classified_like_its_status():
    transport, calls = scripted_transport(
        httpx.Response(200, json={"error": {"code": 502, "message": "upstream overloaded"}}),
        httpx.Response(200, json=OK),
    )
    provider, delays = provider_with(transport)
    assert asyncio.run(provider.complete(ask())).text == "fine" and len(calls) == 2
    transport, calls = scripted_transport(httpx.Response(200, json={"error": {"code": 401, "message": "bad key"}}))
    provider, _ = provider_with(transport)
    with pytest.raises(AuthError, match="bad key"):
        asyncio.run(provider.complete(ask()))
    assert len(calls) == 1
