"""The opening handshake without a server: a WSGI environ in, a status or a 101's bytes out.

``tests/test_protocol_handshake.py`` sends the same cases to a real server; these
check :mod:`djws.protocol.handshake` and :mod:`djws.protocol.http` alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from djws.exceptions import HandshakeError
from djws.protocol.handshake import is_upgrade_request, parse_handshake
from djws.protocol.http import plain

from .support.auth import environ

pytestmark = pytest.mark.fast


def test_a_valid_request_is_accepted_with_rfc_6455s_example_key() -> None:
    response, extensions = parse_handshake(environ()).accept()
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    assert extensions == []


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"REQUEST_METHOD": "POST"}, 405, "A WebSocket handshake must use the GET method."),
        ({"SERVER_PROTOCOL": "HTTP/1.0"}, 505, "A WebSocket handshake needs HTTP/1.1."),
        ({"HTTP_HOST": None}, 400, "Missing Host header."),
        ({"HTTP_CONNECTION": "keep-alive"}, 400, "The Connection header must contain 'Upgrade'."),
        (
            {"HTTP_SEC_WEBSOCKET_VERSION": "8"},
            426,
            "Unsupported WebSocket version '8': this server speaks version 13.",
        ),
        (
            {"HTTP_SEC_WEBSOCKET_KEY": "c2hvcnQ="},
            400,
            "Sec-WebSocket-Key must be 16 random bytes in base64.",
        ),
        (
            {"HTTP_SEC_WEBSOCKET_PROTOCOL": ",".join(["a"] * 65)},
            400,
            "Too many values in the Sec-WebSocket-Protocol header (at most 64).",
        ),
    ],
)
def test_a_malformed_request_gets_its_status_and_reason(
    overrides: dict[str, Any], status: int, message: str
) -> None:
    with pytest.raises(HandshakeError) as refused:
        parse_handshake(environ(**overrides))
    assert (refused.value.status, refused.value.message) == (status, message)


def test_the_refusal_is_a_plain_text_response_that_closes() -> None:
    assert plain(405, "A WebSocket handshake must use the GET method.", [("Allow", "GET")]) == (
        b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 47\r\nConnection: close\r\nAllow: GET\r\n\r\n"
        b"A WebSocket handshake must use the GET method.\n"
    )


def test_only_upgrade_websocket_makes_a_request_a_websocket_request() -> None:
    assert is_upgrade_request({"HTTP_UPGRADE": "h2c, WebSocket"})
    assert not is_upgrade_request({"HTTP_UPGRADE": "h2c"})
    assert not is_upgrade_request({})


def test_a_subprotocol_is_echoed_only_if_the_client_offered_it() -> None:
    handshake = parse_handshake(environ(HTTP_SEC_WEBSOCKET_PROTOCOL="chat.v2, chat.v1"))
    assert handshake.subprotocols == ["chat.v2", "chat.v1"]
    assert handshake.choose_subprotocol(["chat.v1", "chat.v2"]) == "chat.v1"
    assert handshake.choose_subprotocol(["other"]) is None
    response, _ = handshake.accept("chat.v1")
    assert b"\r\nSec-WebSocket-Protocol: chat.v1\r\n" in response
    with pytest.raises(ValueError, match="did not offer subprotocol 'other'"):
        handshake.accept("other")


def test_permessage_deflate_is_negotiated_from_the_first_offer_the_server_can_honour() -> None:
    offers = "permessage-deflate; server_max_window_bits=8, permessage-deflate"
    handshake = parse_handshake(environ(HTTP_SEC_WEBSOCKET_EXTENSIONS=offers))
    factory = ServerPerMessageDeflateFactory(server_max_window_bits=12)
    response, extensions = handshake.accept(compression=factory)
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=" in response
    assert len(extensions) == 1


def test_added_headers_cannot_smuggle_a_line_break() -> None:
    handshake = parse_handshake(environ())
    assert b"\r\nX-Room: 42\r\n" in handshake.accept(headers=[("X-Room", "42")])[0]
    with pytest.raises(ValueError, match="line breaks"):
        handshake.accept(headers=[("X-Room", "42\r\nSet-Cookie: evil")])
