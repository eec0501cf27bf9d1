"""Where API keys come from: an explicit argument, then :func:`set_api_key`, then the environment.

Keys set in code live only in this process (a dict keyed by the environment variable they stand
for) and are registered with :func:`cassia.errors.register_secret` so no message can show them.
Nothing here writes a key anywhere.
"""

from __future__ import annotations

import os

from ..errors import ConfigError, MissingKeyError, register_secret
from ..spelling import key_advice
from .base import ProviderConfig
from .registry import CUSTOM_KEY_ENV, VENDORS, is_local_url, key_env_var

__all__ = ["clear_api_keys", "configured_vendors", "find_key", "resolve_key", "set_api_key"]

_keys: dict[str, str] = {}


def set_api_key(key: str, provider: str | None = "openai") -> None:
    """Use ``key`` for ``provider`` (a vendor name or URL) in this process; it beats the environment."""
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"set_api_key needs a non-empty key string for {provider!r}")
    env = key_env_var(provider)
    if env is None:
        raise ConfigError(f"provider {provider!r} takes no API key")
    key = key.strip()
    register_secret(key)
    _keys[env] = key


def clear_api_keys() -> None:
    """Forget every key given to :func:`set_api_key` (tests use this)."""
    _keys.clear()


def find_key(key_env: str | None) -> str | None:
    """The key set in code for ``key_env``, else the environment variable's value, else None."""
    if not key_env:
        return None
    key = _keys.get(key_env) or os.environ.get(key_env, "").strip()
    return key or None


def resolve_key(config: ProviderConfig, explicit: str | None = None) -> str | None:
    """The key to send for ``config``; raises :class:`MissingKeyError` when a remote server needs one."""
    if explicit is not None:
        if not explicit.strip():
            raise MissingKeyError(f"the api_key given for {config.name} is empty")
        register_secret(explicit.strip())
        return explicit.strip()
    key = find_key(config.key_env)
    if key is None and config.kind in ("openai", "anthropic") and not is_local_url(config.base_url):
        where = config.key_env or CUSTOM_KEY_ENV
        raise MissingKeyError(f"{config.name} needs an API key: {key_advice(config.name, where)}")
    return key


def configured_vendors() -> list[str]:
    """Hosted vendors whose key is set (in code or the environment), in registry order."""
    return [
        v.name
        for v in VENDORS.values()
        if v.key_env and v.key_env != CUSTOM_KEY_ENV and find_key(v.key_env) is not None
    ]
