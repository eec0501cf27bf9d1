"""The vendors CASSIA knows, and how a provider name or URL becomes a :class:`ProviderConfig`.

A vendor that speaks the OpenAI chat-completions protocol is one row here, not a class: its
name, base URL, the environment variable holding its key and a default model. Any other
OpenAI-compatible server is reached by passing its base URL as the provider.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, mask_url_password, register_secret
from ..options import did_you_mean
from .base import ProviderConfig, ProviderKind

__all__ = [
    "CUSTOM_KEY_ENV",
    "CUSTOM_MODEL",
    "DEFAULT_PROVIDER",
    "VENDORS",
    "Vendor",
    "is_local_url",
    "key_env_var",
    "key_env_vars",
    "resolve_config",
]

# The key variable for servers that are not a known vendor (custom URLs, self-hosted servers).
CUSTOM_KEY_ENV = "CASSIA_API_KEY"
# The model id sent to a custom URL when none is given: servers hosting one model
# (llama.cpp, LM Studio, the fake test server) ignore it; others answer 404 and we say so.
CUSTOM_MODEL = "default"
DEFAULT_PROVIDER = "openai"


@dataclass(frozen=True)
class Vendor:
    name: str
    kind: ProviderKind
    base_url: str | None
    key_env: str | None
    default_model: str


VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        # What each model accepts (token field, temperature, structured output) is in the
        # model capability registry (capabilities.py), not here.
        Vendor("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4.1"),
        Vendor("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "claude-sonnet-4-5"),
        Vendor("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "google/gemini-2.5-flash"),
        Vendor("deepseek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "deepseek-chat"),
        # Self-hosted servers: a key is optional (sent when CASSIA_API_KEY is set, e.g. vllm --api-key).
        Vendor("ollama", "openai", "http://localhost:11434/v1", CUSTOM_KEY_ENV, "llama3.1:8b"),
        Vendor("vllm", "openai", "http://localhost:8000/v1", CUSTOM_KEY_ENV, CUSTOM_MODEL),
        Vendor("lmstudio", "openai", "http://localhost:1234/v1", CUSTOM_KEY_ENV, CUSTOM_MODEL),
        Vendor("offline", "offline", None, None, "cassia-kb"),
        # Local agent CLIs (cassia.providers.agent_cli): the tool's own login, so no key variable;
        # model "default" leaves the tool's configured model.
        Vendor("claude-cli", "cli", None, None, "default"),
        Vendor("codex-cli", "cli", None, None, "default"),
        Vendor("cursor-agent", "cli", None, None, "default"),
        Vendor("shell", "cli", None, None, "default"),
    )
}


def is_local_url(url: str | None) -> bool:
    """True for URLs on this machine (localhost, 127.x, ::1): such servers need no key."""
    return bool(url) and is_local_host(urlsplit(url).hostname or "")


def is_local_host(host: str) -> bool:
    """True for ``localhost`` names and loopback addresses (IPv6 brackets and zone ids allowed)."""
    host = host.strip("[]").split("%", 1)[0].lower()
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_env_var(provider: str | None) -> str | None:
    """The environment variable holding ``provider``'s key; None for backends that take none."""
    provider = (provider or DEFAULT_PROVIDER).strip()
    if _is_url(provider) or provider == "custom":
        return CUSTOM_KEY_ENV
    vendor = VENDORS.get(provider.lower())
    if vendor is None:
        raise _unknown(provider)
    return vendor.key_env


def key_env_vars() -> dict[str, str | None]:
    """Vendor name -> its key variable (None when it takes no key)."""
    return {name: vendor.key_env for name, vendor in VENDORS.items()}





def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{mask_url_password(url)!r} is not a usable base URL; give one like http://127.0.0.1:8000/v1")
    register_secret(parts.password)  # a password in the URL is masked wherever text is written
    return url.rstrip("/")


def resolve_config(
    provider: str | ProviderConfig | None = None,
    model: str | None = None,
    *,
    base_url: str | None = None,
    timeout: float | None = None,
    max_concurrency: int | None = None,
    max_retries: int | None = None,
    options: dict[str, Any] | None = None,
    connect_timeout: float | None = None,
    deadline: float | None = None,
    timeout_retries: int | None = None,
    max_tokens: int | None = None,
) -> ProviderConfig:
    """Turn a vendor name, a base URL or a config plus overrides into one frozen config."""
    overrides: dict[str, Any] = {}
    for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout), ("deadline", deadline)):
        if value is not None:
            if value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value}")
            overrides[name] = float(value)
    for name, value, least in (("timeout_retries", timeout_retries, 0), ("max_tokens", max_tokens, 1)):
        if value is not None:
            if value < least:
                raise ConfigError(f"{name} must be at least {least}, got {value}")
            overrides[name] = int(value)
    if max_concurrency is not None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency}")
        overrides["max_concurrency"] = int(max_concurrency)
    if max_retries is not None:
        if max_retries < 0:
            raise ConfigError(f"max_retries cannot be negative, got {max_retries}")
        overrides["max_retries"] = int(max_retries)
    if base_url is not None:
        overrides["base_url"] = _check_url(base_url)
    if model is not None:
        overrides["model"] = model

    if isinstance(provider, ProviderConfig):
        config = dataclasses.replace(provider, **overrides)
    else:
        config = _from_name(provider or DEFAULT_PROVIDER, overrides)
    if options:
        config = dataclasses.replace(config, options=tuple({**dict(config.options), **options}.items()))
    return config


def _unknown(provider: str) -> ConfigError:
    close = did_you_mean(provider, list(VENDORS))
    hint = f"did you mean {close!r}? " if close else ""
    return ConfigError(f"unknown provider {provider!r}; {hint}use one of {', '.join(sorted(VENDORS))}, "
                       "or an http(s) base URL")


def _from_name(provider: str, overrides: dict[str, Any]) -> ProviderConfig:
    provider = provider.strip()
    if _is_url(provider):
        if "base_url" in overrides:
            raise ConfigError("give the server either as the provider or as base_url=, not both")
        overrides["model"] = overrides.get("model") or CUSTOM_MODEL
        return ProviderConfig(
            name="custom", kind="openai", key_env=CUSTOM_KEY_ENV, **{"base_url": _check_url(provider), **overrides}
        )
    vendor = VENDORS.get(provider.lower())
    if vendor is None:
        raise _unknown(provider)
    model = overrides.pop("model", None) or vendor.default_model
    return ProviderConfig(
        name=vendor.name,
        kind=vendor.kind,
        model=model,
        base_url=overrides.pop("base_url", vendor.base_url),
        key_env=vendor.key_env,
        **overrides,
    )
