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
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from .support import Server, run_server
from .support.auth import get, pk_of, refused, whoami


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


def test_a_drf_class_without_a_challenge_refuses_with_403(http_server: Server) -> None:
    response = refused(http_server, "/auth/whoami/", additional_headers={"X-Test-Auth": "reject"})
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers
    assert response.body == b"Rejected without a challenge.\n"
    http_server.wait_for_log(
        "Forbidden (HeaderlessAuthentication: Rejected without a challenge.): /auth/whoami/\n"
    )


def test_the_script_howto_exchanges_a_drf_token_for_tickets_and_refreshes(
    http_server: Server,
) -> None:
    """What docs/howto/authentication.rst's script does, against a real server."""
    token = drf_token(http_server, "d-erin")

    def new_ticket() -> tuple[str, int]:
        request = urllib.request.Request(
            f"{http_server.http_url}/api/ws-ticket/", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Cache-Control"] == "no-store"
            answer = json.load(response)
        return answer["ticket"], answer["expires_in"]

    ticket, expires_in = new_ticket()
    assert expires_in == 120
    with connect(f"{http_server.url}/auth/whoami/", subprotocols=[f"djws.ticket.{ticket}"]) as ws:
        assert authenticated(whoami(ws)) == ("d-erin", "Ticket", "TicketAuthentication", None)
        ws.send(json.dumps({"djws": "refresh", "ticket": new_ticket()[0]}))
        answer = ws.recv(timeout=10)
        assert answer.startswith('{"djws": "refresh')  # how the script tells it apart
        assert json.loads(answer)["djws"] == "refreshed"
        assert 119 <= json.loads(answer)["expires_in"] <= 120
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
    anonymous = urllib.request.Request(f"{http_server.http_url}/api/ws-ticket/")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(anonymous, timeout=10)
    info.value.close()
    assert info.value.code == 403  # DRF's: its first class, SessionAuthentication, has no challenge


def test_a_token_no_class_reads_is_logged_and_ignored() -> None:
    env = {"DJWS_TEST_AUTH_CLASSES": "djws.auth.TicketAuthentication"}
    with (
        run_server(env=env) as server,
        connect(f"{server.url}/auth/whoami/?djws-token=some-token") as ws,
    ):
        assert authenticated(whoami(ws)) == (None, None, None, None)
        server.wait_for_log(
            "A token came in the query string of a handshake to /auth/whoami/, but no class "
            "in WEBSOCKET_AUTHENTICATION_CLASSES reads tokens: it was ignored. Add a Django "
            "REST framework authentication class.\n"
        )
