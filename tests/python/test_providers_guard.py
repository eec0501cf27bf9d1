"""The network guard: a test that reaches for a non-local host fails, even if the error is caught."""

from __future__ import annotations

import socket

import pytest

from cassia.testing.guard import NetworkBlocked, is_local_host


def test_guard_blocks_non_local_connections_and_reports_them(no_network):
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("example.org", 443), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("api.openai.com", 443)
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("192.0.2.1", 80))  # TEST-NET address: never routed anyway
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect_ex(("10.1.2.3", 80))
    assert len(no_network) == 4
    no_network.clear()  # the attempts were the point of this test; do not fail it at teardown


def test_guard_lets_loopback_through(fake_server):
    host, port = "127.0.0.1", fake_server.port
    with socket.create_connection((host, port), timeout=5):
        pass
    assert socket.getaddrinfo("localhost", port)
    assert is_local_host("::1") and is_local_host("[::1]") and is_local_host("127.8.9.10")
    assert not is_local_host("8.8.8.8") and not is_local_host("example.org")


def test_a_test_that_swallows_the_error_still_fails(pytester):
    pytester.makepyfile(
        """
        import httpx

        def test_sneaky():
            try:
                httpx.get("https://example.org/", timeout=1)
            except Exception:
                pass  # the client turned the block into a ConnectError; the guard still notices
        """
    )
    # In a subprocess: an in-process run would unload modules (httpcore) the outer session needs.
    result = pytester.runpytest_subprocess("-p", "cassia.testing.guard", "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tried to reach the network*example.org*"])
