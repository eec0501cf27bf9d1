"""Shared test set-up: no test may reach a non-local host, and no real key leaks into a test."""

from __future__ import annotations

import os

import pytest

from cassia.providers import clear_api_keys, forget_learned
from cassia.providers.capabilities import reset_model_capabilities
from cassia.providers.registry import CUSTOM_KEY_ENV, key_env_vars
from cassia.testing import FakeLLMServer

pytest_plugins = ["cassia.testing.guard", "pytester"]


@pytest.fixture(autouse=True)
def _no_user_keys(monkeypatch):
    """Tests see only the keys they set: none from the developer's shell or earlier tests."""
    for var in {*key_env_vars().values(), CUSTOM_KEY_ENV} - {None}:
        monkeypatch.delenv(var, raising=False)
    clear_api_keys()
    yield
    clear_api_keys()


@pytest.fixture(autouse=True)
def _fresh_negotiation():
    """Each test starts with nothing learned from servers' refusals and the built-in model rules."""
    forget_learned()
    reset_model_capabilities()
    yield
    forget_learned()
    reset_model_capabilities()


# As the session found it, before any test embedded R.
_LIBRARY_PATH = os.environ.get("LD_LIBRARY_PATH")


@pytest.fixture(autouse=True)
def _library_path_as_found():
    """Embedding R (rpy2, in a module-scoped fixture) points LD_LIBRARY_PATH at R's libraries for
    the rest of the process; child processes of later tests (the CLI, servers) would then load
    the system's libssl into this interpreter and fail to import ssl. R needs it only while
    loading, so after each test the variable is put back as the session found it."""
    yield
    if _LIBRARY_PATH is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = _LIBRARY_PATH


@pytest.fixture()
def fake_server():
    """A fresh fake LLM server on 127.0.0.1 for one test."""
    with FakeLLMServer() as server:
        yield server
