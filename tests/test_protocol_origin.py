"""The Origin check: djws's defence against cross-site WebSocket hijacking.

The test project has ``ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]",
"testserver"]`` and no ``WEBSOCKET_ALLOWED_ORIGINS``: same-host and
ALLOWED_HOSTS origins are allowed, every other one gets 403 before the upgrade.
The rule is documented in :mod:`djws.origin` and ``docs/topics/security.rst``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from djws.origin import origin_matches, pattern_error

from .support import Server, run_server, status_of, upgrade_request


def handshake(server: Server, path: str = "/echo/", **headers: str) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(upgrade_request(path, **headers))
        reply = b""
        while b"\r\n\r\n" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
        if not reply.startswith(b"HTTP/1.1 101"):
            while chunk := sock.recv(65536):
                reply += chunk
        return reply


@pytest.mark.parametrize(
    "origin",
    [
        None,  # not a browser: nothing to protect (documented rule)
        "http://127.0.0.1:{port}",  # the request's own host and port
        "https://127.0.0.1:{port}",
        "http://localhost:3000",  # a host in ALLOWED_HOSTS, any port
        "http://[::1]:8000",
    ],
)
def test_allowed_origins_are_upgraded(server: Server, origin: str | None) -> None:
    headers = {} if origin is None else {"Origin": origin.format(port=server.port)}
    assert status_of(handshake(server, **headers)) == 101


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://127.0.0.1.evil.example:{port}",
        "null",  # sandboxed iframes and file: pages
        "not a url",
    ],
)
def test_foreign_origins_get_403_before_the_upgrade(server: Server, origin: str) -> None:
    reply = handshake(server, Origin=origin.format(port=server.port))
    assert status_of(reply) == 403
    assert b"Sec-WebSocket-Accept" not in reply
    assert reply.endswith(b"\r\n\r\nOrigin not allowed for this WebSocket.\n")


def test_view_override_replaces_the_default_rule(server: Server) -> None:
    """@websocket(allowed_origins=["https://app.example.com"])."""
    path = "/protocol/origin-override/"
    assert status_of(handshake(server, path, Origin="https://app.example.com")) == 101
    assert status_of(handshake(server, path, Origin="http://app.example.com")) == 403
    assert status_of(handshake(server, path, Origin=f"http://127.0.0.1:{server.port}")) == 403
    assert status_of(handshake(server, path)) == 101


# The same-host rule trusts only a host that Django accepts (ALLOWED_HOSTS).


@pytest.fixture(scope="module")
def no_common_middleware() -> Iterator[Server]:
    """A server whose MIDDLEWARE has no CommonMiddleware: nothing else validates Host."""
    with run_server(env={"DJWS_TEST_COMMON_MIDDLEWARE": "0"}) as server:
        yield server


def test_same_host_rule_refuses_a_host_outside_allowed_hosts(no_common_middleware: Server) -> None:
    """DNS rebinding: the page and the Host header both say evil.example."""
    server = no_common_middleware
    reply = handshake(server, Host="evil.example", Origin="http://evil.example")
    assert status_of(reply) == 403
    assert b"Origin not allowed for this WebSocket.\n" in reply  # chunked: no CommonMiddleware
    reply = handshake(server, Host=f"evil.example:{server.port}", Origin="http://evil.example")
    assert status_of(reply) == 403


def test_same_host_rule_allows_a_host_in_allowed_hosts(no_common_middleware: Server) -> None:
    server = no_common_middleware
    host = f"127.0.0.1:{server.port}"
    assert status_of(handshake(server, Host=host, Origin=f"http://{host}")) == 101
    # Host validated, Origin another host: the same-host rule does not apply.
    reply = handshake(server, Host=host, Origin=f"http://evil.example:{server.port}")
    assert status_of(reply) == 403


def test_common_middleware_refuses_the_host_itself(server: Server) -> None:
    """With CommonMiddleware (the default MIDDLEWARE), Django answers 400 first."""
    assert status_of(handshake(server, Host="evil.example", Origin="http://evil.example")) == 400


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("localhost:{port}", "http://localhost:{port}", 101),
        ("app.localhost:{port}", "http://app.localhost:{port}", 101),
        ("[::1]:{port}", "http://[::1]:{port}", 101),
        ("evil.example", "http://evil.example", 403),
        ("evil.example:{port}", "http://evil.example:{port}", 403),
    ],
)
def test_debug_with_empty_allowed_hosts_trusts_django_development_hosts(
    host: str, origin: str, status: int
) -> None:
    env = {"DJWS_TEST_ALLOWED_HOSTS": "none", "DJWS_TEST_COMMON_MIDDLEWARE": "0"}
    with run_server(env=env) as server:
        reply = handshake(
            server, Host=host.format(port=server.port), Origin=origin.format(port=server.port)
        )
    assert status_of(reply) == status


@pytest.mark.fast
@pytest.mark.parametrize(
    ("origin", "pattern", "matches"),
    [
        ("https://example.com", "*", True),
        ("null", "*", True),
        ("https://example.com", "https://example.com", True),
        ("https://example.com:443", "https://example.com", True),
        ("https://example.com", "https://example.com:443", True),
        ("http://example.com", "https://example.com", False),
        ("https://example.com:8443", "https://example.com", False),
        ("https://a.example.com", "https://*.example.com", True),
        ("https://a.b.example.com", "https://*.example.com", True),
        ("https://example.com", "https://*.example.com", False),
        ("https://badexample.com", "https://*.example.com", False),
        ("http://example.com:8000", "example.com", True),
        ("https://sub.example.com", ".example.com", True),
        ("https://sub.example.com", "example.com", False),
        ("http://[::1]:8000", "[::1]", True),
        ("null", "null", True),
        ("null", "example.com", False),
    ],
)
def test_origin_pattern_grammar(origin: str, pattern: str, matches: bool) -> None:
    assert origin_matches(origin, pattern) is matches


@pytest.mark.fast
@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("https://example.com", True),
        ("example.com", True),
        ("*", True),
        ("https://example.com/path", False),
        ("https://", False),
        ("", False),
    ],
)
def test_origin_pattern_validation(pattern: str, valid: bool) -> None:
    assert (pattern_error(pattern) is None) is valid
