"""The errors CASSIA raises, one small tree::

    CassiaError                    anything CASSIA raises on purpose
    ├── InputError                 the marker table or an argument is unusable (CLI exit 2)
    ├── ConfigError                settings are inconsistent or a backend is unknown
    │   └── MissingKeyError        a provider needs an API key that is not set
    ├── ProviderError              a backend failed (HTTP status, timeout, CLI exit)
    │   ├── TransientProviderError worth retrying: 429, 5xx, timeouts, dropped connections
    │   └── AuthError              401/403: the key is wrong; never retried
    └── ModelOutputError           the model's reply could not be turned into the expected result

Every message says what went wrong and what to do about it. Messages never contain API keys:
provider errors pass through :func:`redact` before they are raised.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "AuthError",
    "CassiaError",
    "ConfigError",
    "InputError",
    "MissingKeyError",
    "ModelOutputError",
    "ProviderError",
    "TransientProviderError",
    "mask_url_password",
    "redact",
    "register_secret",
]


class CassiaError(Exception):
    """Base class of every error CASSIA raises on purpose."""


class InputError(CassiaError, ValueError):
    """The input (marker table, argument) cannot be used as given."""


class ConfigError(CassiaError):
    """Settings are inconsistent, or a provider/backend is unknown."""


class MissingKeyError(ConfigError):
    """A provider needs an API key and none was given or found."""


class ProviderError(CassiaError):
    """A backend call failed. ``status`` is the HTTP status (or None)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(redact(message))
        self.status = status
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """A failure worth retrying (rate limit, server error, timeout, connection)."""


class AuthError(ProviderError):
    """The provider refused the credentials (401/403). Retrying will not help."""


class ModelOutputError(CassiaError):
    """The model replied, but not with something that fits the expected result."""


# Values of these variables are secrets wherever they show up.
_KEY_ENV_PATTERN = re.compile(r"(API_KEY|_TOKEN|_SECRET)$")
# Shapes of common vendor keys, masked even when we did not hand them out ourselves.
_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,})")
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a key given in code so :func:`redact` masks it too."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


# ``scheme://user:password@`` in any URL: the password is a secret wherever the URL is written.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s/:@]*):(?P<password>[^\s/@]+)@", re.IGNORECASE)


def mask_url_password(url: str | None) -> str | None:
    """``http://user:pass@host/v1`` as ``http://user:***@host/v1`` (None and plain URLs unchanged)."""
    if url is None or "://" not in url:  # the pattern needs "://": skip its slow scan of long texts
        return url
    return _URL_PASSWORD.sub(r"\g<head>:***@", url)


def redact(text: str) -> str:
    """Mask every known secret (registered keys, key-like env values, key shapes, URL passwords)."""
    secrets = set(_extra_secrets)
    secrets.update(v for k, v in os.environ.items() if _KEY_ENV_PATTERN.search(k) and len(v) >= 6)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = mask_url_password(text)
    # every key shape starts with "sk-" or "Bearer": a transcript of a few KB is checked in one pass
    return _KEY_SHAPES.sub("***", text) if "sk-" in text or "Bearer" in text else text
