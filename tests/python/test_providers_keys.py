"""Choosing a backend, where its key comes from, and that a key never shows up where it should not."""

from __future__ import annotations

import asyncio
import sys
import types

import httpx
import pytest
from cassia.errors import (
    AuthError,
    ConfigError,
    MissingKeyError,
    ModelOutputError,
    ProviderError,
)
from cassia.models import Message, ScorerOutput
from cassia.providers import (
    CompletionRequest,
    ProviderConfig,
    get_provider,
    resolve_config,
    set_api_key,
)
from cassia.providers.keys import configured_vendors
from cassia.providers.registry import key_env_var

FAKE_KEY = "sk-cassia-LEAKCHECK-0123456789abcdef"


def ask(schema=None):
    return CompletionRequest(messages=[Message(role="user", content="CD3D")], schema=schema)


def key_sent(provider_name, **kwargs):
    """The key a provider puts on the wire (Bearer or x-api-key), via a MockTransport."""
    seen = []

    def handler(request):
        seen.append(request.headers.get("authorization", "").removeprefix("Bearer ") or request.headers.get("x-api-key"))
        if provider_name == "anthropic":
            return httpx.Response(200, json={"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"})
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})

    provider = get_provider(provider_name, transport=httpx.MockTransport(handler), **kwargs)
    asyncio.run(provider.complete(ask()))
    return seen[0]


@pytest.mark.parametrize("vendor,var", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
                                        ("openrouter", "OPENROUTER_API_KEY"), ("deepseek", "DEEPSEEK_API_KEY")])
def test_key_precedence_explicit_then_set_api_key_then_environment(monkeypatch, vendor, var):
    monkeypatch.setenv(var, "env-key-000001")
    assert key_sent(vendor) == "env-key-000001"
    set_api_key("code-key-000002", provider=vendor)
    assert key_sent(vendor) == "code-key-000002"
    assert key_sent(vendor, api_key="arg-key-000003") == "arg-key-000003"


@pytest.mark.parametrize("vendor,var", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
                                        ("openrouter", "OPENROUTER_API_KEY"), ("deepseek", "DEEPSEEK_API_KEY"),
                                        ("https://llm.example.org/v1", "CASSIA_API_KEY")])
def test_missing_key_names_the_variable_to_set(vendor, var):
    with pytest.raises(MissingKeyError, match=var):
        get_provider(vendor)


def test_custom_remote_url_uses_cassia_api_key(monkeypatch):
    monkeypatch.setenv("CASSIA_API_KEY", "custom-key-000004")
    assert key_sent("https://llm.example.org/v1", model="m") == "custom-key-000004"
    set_api_key("custom-key-000005", provider="https://llm.example.org/v1")
    assert key_sent("https://llm.example.org/v1", model="m") == "custom-key-000005"


@pytest.mark.parametrize("where", ["http://localhost:8080/v1", "http://127.0.0.2:9/v1", "http://[::1]:9/v1",
                                   "ollama", "vllm", "lmstudio"])
def test_local_servers_need_no_key(where):
    provider = get_provider(where)
    assert provider._api_key is None and provider.config.kind == "openai"


def test_set_api_key_rejects_empty_keys_and_keyless_backends():
    with pytest.raises(ConfigError, match="non-empty"):
        set_api_key("  ", provider="openai")
    with pytest.raises(ConfigError, match="takes no API key"):
        set_api_key("abcdefgh", provider="offline")
    with pytest.raises(ConfigError, match="unknown provider 'opena1'.*openai"):
        set_api_key("abcdefgh", provider="opena1")


def test_configured_vendors_lists_hosted_vendors_with_keys(monkeypatch):
    assert configured_vendors() == []
    monkeypatch.setenv("DEEPSEEK_API_KEY", "env-key-000005")
    set_api_key("code-key-000006", provider="anthropic")
    monkeypatch.setenv("CASSIA_API_KEY", "not-a-vendor")  # a local server's key picks no vendor
    assert configured_vendors() == ["anthropic", "deepseek"]
    assert key_env_var("openrouter") == "OPENROUTER_API_KEY" and key_env_var("offline") is None


def test_resolve_config_defaults_and_overrides():
    config = resolve_config("anthropic")
    assert (config.kind, config.model, config.key_env) == ("anthropic", "claude-sonnet-4-5", "ANTHROPIC_API_KEY")
    assert resolve_config("OpenRouter").model == "google/gemini-2.5-flash"
    assert resolve_config().name == "openai"
    custom = resolve_config("http://127.0.0.1:8000/v1/", timeout=5, max_concurrency=2, max_retries=0)
    assert (custom.base_url, custom.model, custom.timeout, custom.max_concurrency, custom.max_retries) == (
        "http://127.0.0.1:8000/v1", "default", 5.0, 2, 0)
    again = resolve_config(custom, "other-model", options={"backoff_base": 0.1})
    assert again.model == "other-model" and dict(again.options)["backoff_base"] == 0.1
    assert resolve_config("offline") == ProviderConfig(name="offline", kind="offline", model="cassia-kb")


@pytest.mark.parametrize("bad,message", [("gemini", "unknown provider 'gemini'"), ("ftp://x/v1", "unknown provider"),
                                         ("http://", "not a usable base URL")])
def test_resolve_config_rejects_unknown_providers(bad, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(bad)


def test_resolve_config_rejects_bad_numbers():
    for kwargs in ({"timeout": 0}, {"max_concurrency": 0}, {"max_retries": -1}):
        with pytest.raises(ConfigError):
            resolve_config("ollama", **kwargs)


def test_offline_is_built_lazily_from_its_module(monkeypatch):
    built = []
    module = types.ModuleType("cassia.providers.offline")

    class OfflineProvider:
        def __init__(self, config):
            built.append(config)
            self.config = config

    module.OfflineProvider = OfflineProvider
    monkeypatch.setitem(sys.modules, "cassia.providers.offline", module)
    provider = get_provider("offline")
    assert isinstance(provider, OfflineProvider)
    assert built == [ProviderConfig(name="offline", kind="offline", model="cassia-kb")]


# ---------------------------------------------------------------- the key never leaks


def echoing_transport(status, *, content=None):
    """A server that quotes the request's key back in its answer, as some really do."""

    def handler(request):
        key = request.headers.get("authorization", "") + request.headers.get("x-api-key", "")
        if status == 200:
            return httpx.Response(200, json={"choices": [{"message": {"content": content or f"echo {key}"},
                                                          "finish_reason": "stop"}]})
        return httpx.Response(status, json={"error": {"message": f"Key {key} is not valid for this model"}})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("status,error", [(401, AuthError), (400, ProviderError), (500, ProviderError),
                                          (200, ModelOutputError)])
@pytest.mark.parametrize("how", ["argument", "set_api_key", "environment"])
def test_a_recognisable_key_never_appears_in_errors_or_reprs(monkeypatch, status, error, how):
    kwargs = {}
    if how == "argument":
        kwargs["api_key"] = FAKE_KEY
    elif how == "set_api_key":
        set_api_key(FAKE_KEY, provider="openrouter")
    else:
        monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    provider = get_provider("openrouter", transport=echoing_transport(status), max_retries=1,
                            options={"backoff_base": 0.001}, **kwargs)
    with pytest.raises(error) as info:
        asyncio.run(provider.complete(ask(ScorerOutput)))
    texts = [str(info.value), repr(info.value), repr(provider), repr(provider.config), str(provider.config.public())]
    assert not any(FAKE_KEY in t for t in texts)
    assert not any("LEAKCHECK" in t for t in texts)


def test_providers_refuse_to_be_pickled():
    import pickle

    provider = get_provider("openai", api_key=FAKE_KEY)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(provider)


def test_a_misspelled_provider_gets_the_closest_name():
    from cassia.providers import get_provider

    for call in (lambda: get_provider("opnai"), lambda: set_api_key("abcdefgh", provider="antropic")):
        with pytest.raises(ConfigError, match=r"did you mean '(openai|anthropic)'\?"):
            call()
    with pytest.raises(ConfigError) as far:
        get_provider("zzz")
    assert "did you mean" not in str(far.value)
