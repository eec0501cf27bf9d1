"""A pytest plugin that fails any test which tries to reach a host other than this machine.

Register it from a conftest (``pytest_plugins = ["cassia.testing.guard"]``). Its autouse
fixture patches ``socket.socket.connect``/``connect_ex``, ``socket.create_connection`` and
``socket.getaddrinfo``: loopback addresses, ``localhost`` and Unix sockets pass, anything else
raises :class:`NetworkBlocked` at once, and the test fails even if the code under test caught
the error (an HTTP client would turn it into a retried "connection error").
"""

from __future__ import annotations

import socket
from typing import Any, Iterator

import pytest

from ..providers.registry import is_local_host as registry_is_local_host

__all__ = ["NetworkBlocked", "is_local_host", "no_network", "pytest_runtest_call"]


class NetworkBlocked(OSError):
    """Raised instead of opening a connection to a non-local host during tests."""


def is_local_host(host: Any) -> bool:
    """True for loopback IPs, ``localhost`` names, and the empty/None host (local bind)."""
    if host is None or host in ("", b""):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return registry_is_local_host(str(host))


def _host_of(address: Any) -> Any:
    # AF_INET/AF_INET6 addresses are tuples; AF_UNIX addresses are paths (always local).
    return address[0] if isinstance(address, tuple) and address else None


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Block non-local connections for the duration of a test; yields the list of attempts."""
    attempts: list[str] = []

    def refuse(what: str) -> NetworkBlocked:
        attempts.append(what)
        return NetworkBlocked(f"tests must not reach non-local hosts (tried {what})")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not is_local_host(_host_of(address)):
            raise refuse(f"connect to {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not is_local_host(_host_of(address)):
            raise refuse(f"connect_ex to {address!r}")
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not is_local_host(_host_of(address)):
            raise refuse(f"create_connection to {address!r}")
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_local_host(host):
            raise refuse(f"name lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    _fail_if_any(attempts)  # attempts made by fixtures, after the test body


def _fail_if_any(attempts: list[str]) -> None:
    if attempts:
        found = "; ".join(attempts)
        attempts.clear()  # report once
        pytest.fail(f"this test tried to reach the network: {found}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Turn blocked attempts into a failure of the test itself, not only an error at teardown."""
    result = yield
    _fail_if_any(getattr(item, "funcargs", {}).get("no_network") or [])
    return result
