"""Test doubles shared by the pytest suite, the R tests and the vignettes.

:class:`FakeLLMServer` is an OpenAI/Anthropic-compatible HTTP server on 127.0.0.1 (also
``python -m cassia.testing.fake_server``); :class:`ScriptedProvider` answers agent calls in
process from a script. The pytest network guard lives in :mod:`cassia.testing.guard` (not
imported here, so this package does not need pytest).
"""

from __future__ import annotations

import importlib
from typing import Any

from .fake_provider import ScriptedProvider

__all__ = ["FakeLLMServer", "FakeRequest", "ScriptedProvider"]


def __getattr__(name: str) -> Any:
    # Imported on first use so `python -m cassia.testing.fake_server` does not import the
    # module twice (runpy warns when the package already imported it).
    if name in ("FakeLLMServer", "FakeRequest"):
        return getattr(importlib.import_module(f"{__name__}.fake_server"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
