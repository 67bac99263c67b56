"""What reaches the client as plain HTTP: refusals before the upgrade.

A WebSocket handshake that Django refuses must get Django's real HTTP response,
not a 101 followed by a close. Raw sockets show the exact bytes.
"""

from __future__ import annotations

import socket

from websockets.sync.client import connect

from .support import Server, raw_request, status_of, upgrade_request


def http_get(server: Server, path: str) -> bytes:
    return raw_request(
        "127.0.0.1",
        server.port,
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(),
    )


def upgrade(server: Server, path: str, **headers: str) -> bytes:
    """Send an upgrade request and return the server's HTTP response head and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(upgrade_request(path, **headers))
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        if status_of(reply) != 101:
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            while length is not None and len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        return head + b"\r\n\r\n" + body


def test_plain_http_request_gets_426_with_upgrade_header(server: Server) -> None:
    reply = http_get(server, "/echo/")
    assert status_of(reply) == 426
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"\r\nUpgrade: websocket\r\n" in head
    assert b"WebSocket" in body


def test_unknown_route_is_a_real_404(server: Server) -> None:
    reply = upgrade(server, "/no/such/route/")
    assert status_of(reply) == 404
    assert b"Sec-WebSocket-Accept" not in reply


def test_permission_denied_is_a_real_403(server: Server) -> None:
    reply = upgrade(server, "/forbidden/")
    assert status_of(reply) == 403
    assert b"you should not see this" not in reply


def test_login_required_is_a_403_naming_the_login_page_not_a_redirect(server: Server) -> None:
    # A browser's WebSocket cannot follow a redirect, and ?next= would point back
    # at the WebSocket URL: djws answers the handshake with 403 instead.
    reply = upgrade(server, "/private/")
    assert status_of(reply) == 403
    assert b"\r\nLocation:" not in reply
    assert reply.endswith(
        b"\r\n\r\nAuthentication required: log in at /accounts/login/, "
        b"then open this WebSocket again.\n"
    )
    server.wait_for_log("Forbidden: /private/")


def test_middleware_response_reaches_the_client(server: Server) -> None:
    reply = upgrade(server, "/blocked-by-middleware/")
    assert status_of(reply) == 418
    assert reply.endswith(b"blocked")


def test_exception_before_accept_is_a_500(server: Server) -> None:
    reply = upgrade(server, "/broken-before-accept/")
    assert status_of(reply) == 500
    server.wait_for_log("RuntimeError: failed before accept")


def test_missing_key_is_400_without_touching_django(server: Server) -> None:
    reply = upgrade(server, "/forbidden/", Sec_WebSocket_Key=None)
    assert status_of(reply) == 400  # not 403: Django never saw it
    assert b"Sec-WebSocket-Key" in reply


def test_wrong_version_is_426_naming_version_13(server: Server) -> None:
    reply = upgrade(server, "/echo/", Sec_WebSocket_Version="8")
    assert status_of(reply) == 426
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in reply


def test_valid_upgrade_is_accepted_with_the_rfc_accept_key(server: Server) -> None:
    reply = upgrade(server, "/echo/")
    assert reply.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    # The example key of RFC 6455, section 1.3, and its documented answer.
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in reply


def test_server_keeps_serving_after_a_client_leaves_mid_handshake(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(upgrade_request("/echo/")[:40])
    with connect(f"{server.url}/echo/") as ws:
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"
