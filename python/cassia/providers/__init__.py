"""Backends that answer agent calls, behind one protocol (see :mod:`cassia.providers.base`).

``get_provider("openai")``, ``get_provider("anthropic", "claude-sonnet-4-5")``,
``get_provider("http://127.0.0.1:8000/v1", "my-model")`` or ``get_provider("offline")`` give
an object with ``await provider.complete(request)``. Vendors that speak the OpenAI protocol
are rows of :data:`VENDORS`; the HTTP client can be injected with ``transport=``.
"""

from __future__ import annotations

import importlib
from typing import Any

import httpx

from ..errors import ConfigError
from .anthropic import AnthropicProvider
from .base import Completion, CompletionRequest, Provider, ProviderConfig
from .capabilities import Capabilities, Price, capabilities_for, set_model_capabilities
from .negotiate import forget_learned
from .keys import clear_api_keys, resolve_key, set_api_key
from .openai_compat import OpenAICompatProvider
from .registry import VENDORS, Vendor, is_local_url, resolve_config
from .structured import RawReply, complete_json_in_prompt

__all__ = [
    "AnthropicProvider",
    "Capabilities",
    "Completion",
    "CompletionRequest",
    "OpenAICompatProvider",
    "Price",
    "Provider",
    "ProviderConfig",
    "RawReply",
    "VENDORS",
    "Vendor",
    "capabilities_for",
    "clear_api_keys",
    "complete_json_in_prompt",
    "forget_learned",
    "get_provider",
    "is_local_url",
    "resolve_config",
    "set_api_key",
    "set_model_capabilities",
]

_HTTP_BACKENDS = {"openai": OpenAICompatProvider, "anthropic": AnthropicProvider}
# Backends without HTTP, imported only when asked for; each is built as Class(config).
_LAZY_BACKENDS = {"offline": "cassia.providers.offline:OfflineProvider",
                  "cli": "cassia.providers.agent_cli:from_config"}


def get_provider(
    provider: str | ProviderConfig | None = None,
    model: str | None = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float | None = None,
    max_concurrency: int | None = None,
    max_retries: int | None = None,
    options: dict[str, Any] | None = None,
    command: str | None = None,
    connect_timeout: float | None = None,
    deadline: float | None = None,
    timeout_retries: int | None = None,
    max_tokens: int | None = None,
) -> Provider:
    """A ready provider for a vendor name, an OpenAI-compatible base URL, a config, or "offline".

    The key comes from ``api_key``, else :func:`set_api_key`, else the vendor's environment
    variable (``CASSIA_API_KEY`` for custom URLs); servers on localhost need none. ``options``
    tunes the HTTP layer (e.g. ``{"backoff_base": 0.01}``, ``{"reasoning_effort": "low"}``) and is
    recorded in the config. ``timeout`` (read), ``connect_timeout`` and ``deadline`` (the whole
    call) are seconds; ``max_concurrency`` limits requests in flight (default: no limit of its
    own); ``max_tokens`` is the output limit of every call. What the model accepts comes from
    :func:`set_model_capabilities` and the built-in rules.
    Local agent CLIs: ``"claude-cli"``, ``"codex-cli"``, ``"cursor-agent"`` and ``"shell"``
    (``command=`` its template, e.g. ``"mytool --in {prompt_file} --out {output_file}"``).
    """
    if command is not None:
        options = {**(options or {}), "command": command}
    config = resolve_config(
        provider,
        model,
        base_url=base_url,
        timeout=timeout,
        max_concurrency=max_concurrency,
        max_retries=max_retries,
        options=options,
        connect_timeout=connect_timeout,
        deadline=deadline,
        timeout_retries=timeout_retries,
        max_tokens=max_tokens,
    )
    backend = _HTTP_BACKENDS.get(config.kind)
    if backend is not None:
        return backend(config, api_key=resolve_key(config, api_key), transport=transport)
    target = _LAZY_BACKENDS.get(config.kind)
    if target is None:
        raise ConfigError(f"no backend is available for provider kind {config.kind!r} ({config.name})")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(config)
