"""Credentials in a handshake, without a server: found, kept from views, redacted, echoed.

``tests/test_auth_tickets.py`` and ``tests/test_auth_drf.py`` show the same
through real servers; these check :mod:`djws.protocol.credentials` and the
handshake's ``101`` with strings and bytes alone.
"""

from __future__ import annotations

import pytest

from djws.protocol.credentials import (
    Credential,
    redact_request_line,
    redact_subprotocols,
    split_subprotocols,
)
from djws.protocol.handshake import parse_handshake

from .support.auth import environ

pytestmark = pytest.mark.fast

TICKET = "eyJ1IjoxLCJpIjoiYWJjIn0.1xaMZJ.RFCySItfhLcVxjbMdAdEI3oeoB4P"


def test_credential_subprotocols_are_split_from_the_applications_in_order() -> None:
    offered = ["chat.v2", f"djws.ticket.{TICKET}", "djws.token.abc", "djws.other", "djws.ticket."]
    subprotocols, credentials = split_subprotocols(offered)
    assert subprotocols == ["chat.v2", "djws.other", "djws.ticket."]
    assert credentials == [
        Credential("ticket", TICKET, f"djws.ticket.{TICKET}"),
        Credential("token", "abc", "djws.token.abc"),
    ]


def test_a_credential_never_shows_its_value_in_a_repr() -> None:
    credential = Credential("ticket", TICKET)
    assert TICKET not in repr(credential)
    assert repr(credential) == "Credential(kind='ticket', subprotocol=None)"
    assert credential.source == "query string"


@pytest.mark.parametrize(
    ("line", "redacted", "found"),
    [
        (
            f"GET /ws/?djws-ticket={TICKET} HTTP/1.1\r\n",
            "GET /ws/?djws-ticket=[redacted] HTTP/1.1\r\n",
            [Credential("ticket", TICKET)],
        ),
        (
            f"GET /ws/?djws=1&djws-token=a%2Bb&djws-ticket={TICKET}&x=2 HTTP/1.1\r\n",
            "GET /ws/?djws=1&djws-token=[redacted]&djws-ticket=[redacted]&x=2 HTTP/1.1\r\n",
            [Credential("token", "a+b"), Credential("ticket", TICKET)],
        ),
        (  # a percent-encoded name is what it decodes to
            f"GET /ws/?djws%2Dticket={TICKET} HTTP/1.1\r\n",
            "GET /ws/?djws%2Dticket=[redacted] HTTP/1.1\r\n",
            [Credential("ticket", TICKET)],
        ),
        ("GET /ws/?djws=1&ticket=x HTTP/1.1\r\n", "GET /ws/?djws=1&ticket=x HTTP/1.1\r\n", []),
        ("GET /ws/ HTTP/1.1\r\n", "GET /ws/ HTTP/1.1\r\n", []),
        ("garbage", "garbage", []),
    ],
)
def test_credentials_are_taken_out_of_the_request_line(
    line: str, redacted: str, found: list[Credential]
) -> None:
    assert redact_request_line(line) == (redacted, found)


def test_credential_subprotocols_are_redacted_from_the_header() -> None:
    header = f"chat.v2, djws.ticket.{TICKET},djws.token.abc"
    assert redact_subprotocols(header) == "chat.v2, djws.ticket.[redacted], djws.token.[redacted]"
    assert redact_subprotocols("chat.v2, chat.v1") == "chat.v2, chat.v1"


def test_a_view_never_sees_nor_chooses_a_credential_subprotocol() -> None:
    offered = f"chat.v2, djws.ticket.{TICKET}"
    handshake = parse_handshake(environ(HTTP_SEC_WEBSOCKET_PROTOCOL=offered))
    assert handshake.subprotocols == ["chat.v2"]
    assert handshake.credential("ticket") == Credential("ticket", TICKET, f"djws.ticket.{TICKET}")
    assert handshake.choose_subprotocol([f"djws.ticket.{TICKET}"]) is None
    with pytest.raises(ValueError, match="did not offer"):
        handshake.accept(f"djws.ticket.{TICKET}")


def test_the_101_names_the_chosen_subprotocol_and_never_the_ticket_beside_it() -> None:
    offered = f"chat.v2, djws.ticket.{TICKET}"
    response, _ = parse_handshake(environ(HTTP_SEC_WEBSOCKET_PROTOCOL=offered)).accept("chat.v2")
    assert b"\r\nSec-WebSocket-Protocol: chat.v2\r\n" in response
    assert TICKET.encode() not in response


def test_the_101_echoes_the_credential_entry_when_the_view_chose_none() -> None:
    offered = f"chat.v9, djws.ticket.{TICKET}, djws.token.abc"
    response, _ = parse_handshake(environ(HTTP_SEC_WEBSOCKET_PROTOCOL=offered)).accept()
    assert response.endswith(f"\r\nSec-WebSocket-Protocol: djws.ticket.{TICKET}\r\n\r\n".encode())


def test_query_credentials_come_after_subprotocol_ones() -> None:
    handshake = parse_handshake(
        environ(HTTP_SEC_WEBSOCKET_PROTOCOL="djws.token.abc"),
        [Credential("ticket", TICKET), Credential("token", "query")],
    )
    assert handshake.credential("token") == Credential("token", "abc", "djws.token.abc")
    assert handshake.credential("ticket") == Credential("ticket", TICKET)
    response, _ = handshake.accept()
    assert b"\r\nSec-WebSocket-Protocol: djws.token.abc\r\n" in response
