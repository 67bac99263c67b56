"""Django REST framework's TokenAuthentication and simplejwt's JWTAuthentication on handshakes.

Both real packages, unchanged, listed in the test project's
``WEBSOCKET_AUTHENTICATION_CLASSES`` after djws's tickets. Through a real
server: a token authenticates a handshake (``request.user`` is its user, and
``send_to_user`` reaches the socket), in the ``Authorization`` header as an
API client sends it, or as the subprotocol ``djws.token.<token>`` or in
``?djws-token=``; a bad one gets DRF's 401, logged without the token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from .support import Server, run_server
from .test_auth_tickets import get, pk_of, refused, whoami

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    with run_server("--http") as server:
        yield server


def drf_token(server: Server, username: str) -> str:
    return get(server, f"/drf-token/{username}/")[1].decode()


def jwt(server: Server, username: str) -> str:
    return get(server, f"/jwt/{username}/")[1].decode()


def authenticated(answer: dict[str, Any]) -> tuple[Any, ...]:
    return answer["user"], answer["auth"], answer["authenticator"], answer["session"]


def test_a_drf_token_in_the_authorization_header_authenticates(http_server: Server) -> None:
    headers = {"Authorization": f"Token {drf_token(http_server, 'd-alice')}"}
    with connect(f"{http_server.url}/auth/whoami/", additional_headers=headers) as ws:
        answer = whoami(ws)
    assert authenticated(answer) == ("d-alice", "Token", "TokenAuthentication", None)
    assert answer["ws"] == "WebSocket"  # a token has no lifetime djws enforces


def test_a_simplejwt_token_in_the_authorization_header_authenticates(http_server: Server) -> None:
    headers = {"Authorization": f"Bearer {jwt(http_server, 'd-bob')}"}
    with connect(f"{http_server.url}/auth/whoami/", additional_headers=headers) as ws:
        answer = whoami(ws)
    assert authenticated(answer) == ("d-bob", "AccessToken", "JWTAuthentication", None)


def test_a_token_offered_as_a_subprotocol_is_tried_by_each_class(http_server: Server) -> None:
    # TokenAuthentication comes first and rejects the JWT; JWTAuthentication accepts it.
    token = jwt(http_server, "d-carol")
    offer = [f"djws.token.{token}"]
    with connect(f"{http_server.url}/auth/whoami/", subprotocols=offer) as ws:
        assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == offer
        answer = whoami(ws)
    assert authenticated(answer) == ("d-carol", "AccessToken", "JWTAuthentication", None)
    assert answer["offered"] == []
    token = drf_token(http_server, "d-carol")
    with connect(f"{http_server.url}/auth/whoami/?djws-token={token}") as ws:
        assert authenticated(whoami(ws)) == ("d-carol", "Token", "TokenAuthentication", None)
    http_server.wait_for_log('"GET /auth/whoami/?djws-token=[redacted] HTTP/1.1" 101 ')
    assert token not in http_server.log()


def test_send_to_user_reaches_a_token_authenticated_socket(http_server: Server) -> None:
    headers = {"Authorization": f"Token {drf_token(http_server, 'd-dave')}"}
    jwt_offer = [f"djws.token.{jwt(http_server, 'd-dave')}"]
    with (
        connect(f"{http_server.url}/broadcast/identity/", additional_headers=headers) as by_token,
        connect(f"{http_server.url}/broadcast/identity/", subprotocols=jwt_offer) as by_jwt,
        connect(f"{http_server.url}/broadcast/identity/") as anonymous,
    ):
        me = json.loads(by_token.recv(timeout=10))
        assert json.loads(by_jwt.recv(timeout=10)) == me
        assert me == {"user": pk_of(http_server, "d-dave"), "session": None}
        assert json.loads(anonymous.recv(timeout=10)) == {"user": None, "session": None}
        anonymous.send(f"to-user {me['user']} for dave")
        assert by_token.recv(timeout=10) == "for dave"
        assert by_jwt.recv(timeout=10) == "for dave"


@pytest.mark.parametrize(
    ("kwargs", "challenge", "detail", "logged"),
    [
        (
            {"additional_headers": {"Authorization": "Token not-a-token"}},
            "Token",
            "Invalid token.",
            "TokenAuthentication: Invalid token.",
        ),
        (
            {"additional_headers": {"Authorization": "Bearer not.a.jwt"}},
            'Bearer realm="api"',
            "Given token not valid for any token type",
            "JWTAuthentication: Given token not valid for any token type",
        ),
        (  # every class rejects it: the first rejection is the answer
            {"subprotocols": ["djws.token.not-a-token"]},
            "Token",
            "Invalid token.",
            "TokenAuthentication: Invalid token.",
        ),
    ],
)
def test_a_bad_token_gets_drfs_refusal_before_the_view(
    http_server: Server, kwargs: dict[str, Any], challenge: str, detail: str, logged: str
) -> None:
    response = refused(http_server, "/auth/whoami/", **kwargs)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.body == f"{detail}\n".encode()
    http_server.wait_for_log(f"Unauthorized ({logged}): /auth/whoami/\n")
    assert "not-a-token" not in http_server.log()
