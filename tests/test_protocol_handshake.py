"""The opening handshake: malformed, hostile or half-finished ones get the exact HTTP answer.

Refusals are decided before Django runs (:mod:`djws.protocol.handshake`,
:mod:`djws.server.handler`); each is a complete HTTP response followed by the server
closing the connection. After each, the worker still completes a handshake for
a well-behaved client and its memory is back near where it started.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from .support import (
    RawClient,
    Server,
    assert_healthy,
    rss_kib,
    run_server,
    status_of,
    upgrade_request,
    worker_pid,
)

RSS_SLACK_KIB = 8 * 1024


@pytest.fixture(scope="module")
def impatient() -> Iterator[Server]:
    """A server that gives clients one second to send their request headers."""
    with run_server(env={"WEBSOCKET_HANDSHAKE_TIMEOUT": "1.0"}) as server:
        yield server


@pytest.fixture(scope="module")
def baseline(impatient: Server) -> tuple[int, int]:
    for _ in range(3):
        assert_healthy(impatient)
    pid = worker_pid(impatient)
    return pid, rss_kib(pid)


def assert_recovered(server: Server, baseline: tuple[int, int]) -> None:
    pid, rss = baseline
    assert_healthy(server)
    assert worker_pid(server) == pid
    assert rss_kib(pid) < rss + RSS_SLACK_KIB, f"RSS grew from {rss} to {rss_kib(pid)} KiB"


def send(
    server: Server, request: bytes, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """Send a raw request; return the status, headers (lower-case names) and body."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):  # the server closes after a refusal
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_of(reply), headers, body


BAD_KEY_MESSAGE = b"Sec-WebSocket-Key must be 16 random bytes in base64.\n"

# (id, request, status, body) -- each refused before Django runs.
REFUSALS = [
    ("no-upgrade-header", upgrade_request(Upgrade=None), 426, None),
    (
        "no-connection-upgrade",
        upgrade_request(Connection="keep-alive"),
        400,
        b"The Connection header must contain 'Upgrade'.\n",
    ),
    ("no-key", upgrade_request(Sec_WebSocket_Key=None), 400, BAD_KEY_MESSAGE),
    (
        "key-of-15-bytes",
        upgrade_request(Sec_WebSocket_Key="AAAAAAAAAAAAAAAAAAAA"),
        400,
        BAD_KEY_MESSAGE,
    ),
    (
        "key-of-17-bytes",
        upgrade_request(Sec_WebSocket_Key="AAAAAAAAAAAAAAAAAAAAAAA="),
        400,
        BAD_KEY_MESSAGE,
    ),
    (
        "key-not-base64",
        upgrade_request(Sec_WebSocket_Key="not base64 at all!!!!!=="),
        400,
        BAD_KEY_MESSAGE,
    ),
    (
        "http-1.0",
        upgrade_request().replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        505,
        b"A WebSocket handshake needs HTTP/1.1.\n",
    ),
    (
        "post",
        upgrade_request().replace(b"GET", b"POST", 1),
        405,
        b"A WebSocket handshake must use the GET method.\n",
    ),
    (
        "bad-subprotocol-header",
        upgrade_request(Sec_WebSocket_Protocol="chat v2"),
        400,
        b"Invalid Sec-WebSocket-Protocol header: expected comma at 5 in chat v2.\n",
    ),
    (
        "bad-extensions-header",
        upgrade_request(Sec_WebSocket_Extensions="permessage-deflate; ;;=="),
        400,
        b"Invalid Sec-WebSocket-Extensions header: "
        b"expected token at 20 in permessage-deflate; ;;==.\n",
    ),
    (
        "unterminated-extension-parameter",
        upgrade_request(Sec_WebSocket_Extensions='foo, bar="'),
        400,
        b'Invalid Sec-WebSocket-Extensions header: expected comma at 8 in foo, bar=".\n',
    ),
    (
        "thousands-of-subprotocols",
        upgrade_request(Sec_WebSocket_Protocol=", ".join(["chat"] * 5000)),
        400,
        b"Too many values in the Sec-WebSocket-Protocol header (at most 64).\n",
    ),
]


@pytest.mark.parametrize(
    ("request_bytes", "status", "body"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_malformed_handshake_is_refused(
    impatient: Server,
    baseline: tuple[int, int],
    request_bytes: bytes,
    status: int,
    body: bytes | None,
) -> None:
    got_status, headers, got_body = send(impatient, request_bytes)
    assert got_status == status
    assert "sec-websocket-accept" not in headers
    if body is not None:
        assert got_body == body
    assert_recovered(impatient, baseline)


def test_other_method_gets_405_allowing_only_get(impatient: Server) -> None:
    status, headers, _body = send(impatient, upgrade_request().replace(b"GET", b"PUT", 1))
    assert status == 405
    assert headers["allow"] == "GET"
    assert headers["connection"] == "close"


@pytest.mark.parametrize("version", ["8", "12", "14", ""])
def test_unsupported_version_gets_426_naming_version_13(
    impatient: Server, baseline: tuple[int, int], version: str
) -> None:
    status, headers, body = send(impatient, upgrade_request(Sec_WebSocket_Version=version))
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert (
        body
        == (f"Unsupported WebSocket version {version!r}: this server speaks version 13.\n").encode()
    )
    assert_recovered(impatient, baseline)


def test_valid_handshake_gets_the_rfc_accept_key(impatient: Server) -> None:
    """RFC 6455, 1.3: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=."""
    with socket.create_connection((impatient.host, impatient.port), timeout=10) as sock:
        sock.sendall(upgrade_request())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(4096)
    lines = reply.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in lines
    assert b"Upgrade: websocket" in lines
    assert b"Connection: Upgrade" in lines


def test_oversized_header_block_gets_431(impatient: Server, baseline: tuple[int, int]) -> None:
    """80 headers of 1 KiB each: under the standard library's limits, over djws's 64 KiB."""
    extra = "".join(f"X-Padding-{n}: {'p' * 1000}\r\n" for n in range(80))
    status, _headers, body = send(impatient, upgrade_request(extra=extra))
    assert status == 431
    assert body == b"Request header fields too large.\n"
    assert_recovered(impatient, baseline)


def test_too_many_headers_get_400(impatient: Server, baseline: tuple[int, int]) -> None:
    extra = "".join(f"X-H{n}: v\r\n" for n in range(150))
    status, _headers, body = send(impatient, upgrade_request(extra=extra))
    assert status == 400
    assert body == b"Bad request.\n"
    assert_recovered(impatient, baseline)


@pytest.mark.parametrize(
    "extra",
    ["X-Broken header line\r\n", "X-Space : v\r\n"],
    ids=["no-colon", "space-before-colon"],
)
def test_a_malformed_header_line_gets_400(
    impatient: Server, baseline: tuple[int, int], extra: str
) -> None:
    """Refused whole (RFC 9112), not read as the end of the headers."""
    status, _headers, body = send(impatient, upgrade_request(extra=extra))
    assert status == 400
    assert body == b"Bad request.\n"
    assert_recovered(impatient, baseline)


def test_header_values_reach_django_as_sent_and_a_folded_one_joined(impatient: Server) -> None:
    """obs-fold (RFC 9112): the continuation becomes part of one value, with a space."""
    client = RawClient(
        impatient, "/headers/", extra="X-Folded: one\r\n two\r\nX-Plain:  spaced  \r\n"
    )
    try:
        headers = json.loads(client.recv_message())
    finally:
        client.sock.close()
    assert headers["X-Folded"] == "one two"
    assert headers["X-Plain"] == "spaced"
    assert headers["Upgrade"] == "websocket"


@pytest.mark.parametrize(
    "partial",
    [b"", b"GET /echo/ HT", b"GET /echo/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"],
    ids=["nothing", "half-a-request-line", "headers-never-finished"],
)
def test_half_finished_handshake_is_dropped_with_408(
    impatient: Server, baseline: tuple[int, int], partial: bytes
) -> None:
    with socket.create_connection((impatient.host, impatient.port), timeout=10) as sock:
        sock.sendall(partial)
        started = time.monotonic()
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        waited = time.monotonic() - started
    assert 0.8 < waited < 5.0, f"dropped after {waited:.2f} s; the timeout is 1 s"
    assert status_of(reply) == 408
    assert reply.endswith(b"\r\n\r\nRequest timed out.\n")
    assert_recovered(impatient, baseline)


def test_many_idle_half_open_connections_are_all_dropped(
    impatient: Server, baseline: tuple[int, int]
) -> None:
    """50 clients that open TCP and stall: all are cut at the timeout, none lingers."""
    address = (impatient.host, impatient.port)
    sockets = [socket.create_connection(address, timeout=10) for _ in range(50)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /echo/ HTTP/1.1\r\n")
        assert_healthy(impatient)  # the worker is not blocked meanwhile
        deadline = time.monotonic() + 6
        for sock in sockets:
            sock.settimeout(max(deadline - time.monotonic(), 0.1))
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
            assert status_of(reply) == 408
    finally:
        for sock in sockets:
            sock.close()
    assert_recovered(impatient, baseline)
