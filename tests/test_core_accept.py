"""Views that decide inside themselves: ``@websocket(auto_accept=False)``.

The view gets the connection pending. It accepts with ``ws.accept()`` -- the
subprotocol and extra headers its own -- or refuses with any ``HttpResponse``,
sent as the real answer to the handshake. What djws does around an automatic
accept (who the client is, read before the 101; the broadcast hub; releasing
the handshake's database connections) happens for a manual one too.

The views run in this process, served by djws's test client; the last test is
a real server's, whose worker releases database connections.
"""

from __future__ import annotations

from typing import Any

import pytest
from websockets.sync.client import connect

from djws.test import HandshakeRefused

from .support import http_get, run_server


def refusal(client: Any, path: str) -> tuple[int, str, bytes]:
    """Open ``path`` expecting an HTTP refusal: its status, content type and body."""
    with pytest.raises(HandshakeRefused) as refused:
        client.connect(path)
    response = refused.value.response
    return response.status_code, response.get("Content-Type", ""), response.content


@pytest.mark.fast
def test_the_view_chooses_the_subprotocol_and_adds_headers(ws_client: Any) -> None:
    with ws_client.connect("/accept/chosen/", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"  # the client's last offer: the view's choice
        assert ws.response.headers["X-Offered"] == "chat.v1, chat.v2"
        assert ws.receive() == "accepted chat.v2"


@pytest.mark.fast
def test_the_view_accepts_when_it_says_so(ws_client: Any) -> None:
    with ws_client.connect("/accept/room/lobby/?key=sesame") as ws:
        assert ws.receive() == "welcome to the lobby"
        assert ws.receive() is None  # closed by the server
        assert ws.wait_closed() == 1000


@pytest.mark.fast
def test_the_view_refuses_with_its_own_responses(ws_client: Any) -> None:
    plain = "text/plain; charset=utf-8"
    assert refusal(ws_client, "/accept/room/lobby/") == (403, plain, b"Members only.\n")
    assert refusal(ws_client, "/accept/room/cellar/") == (
        404,
        plain,
        b"There is no room 'cellar'.\n",
    )


@pytest.mark.fast
def test_permission_denied_before_accepting_is_a_real_403(
    ws_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    status, _type, _body = refusal(ws_client, "/accept/denied/")
    assert status == 403
    assert "Forbidden (Permission denied): /accept/denied/" in caplog.text


@pytest.mark.fast
def test_using_the_connection_before_accepting_is_a_500_with_a_clear_error(
    ws_client_seeing_errors: Any, caplog: pytest.LogCaptureFixture
) -> None:
    status, _type, _body = refusal(ws_client_seeing_errors, "/accept/early-send/")
    assert status == 500
    assert (
        "RuntimeError: this WebSocket is not accepted yet: call ws.accept() before receiving, "
        "sending or closing, or return an HttpResponse from the view to refuse the connection\n"
    ) in caplog.text


@pytest.mark.fast
def test_returning_without_accepting_or_refusing_is_a_500_with_a_clear_error(
    ws_client_seeing_errors: Any, caplog: pytest.LogCaptureFixture
) -> None:
    status, _type, _body = refusal(ws_client_seeing_errors, "/accept/forgot/")
    assert status == 500
    assert (
        "ValueError: The WebSocket view testproject.accept_views.forgot returned None without "
        "accepting the connection. Call ws.accept() to open it, or return an HttpResponse to "
        "refuse it.\n"
    ) in caplog.text


@pytest.mark.fast
def test_a_response_returned_after_accepting_is_logged_not_sent(
    ws_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with ws_client.connect("/accept/late-response/") as ws:
        assert ws.receive() is None  # closed by the server
        assert ws.wait_closed() == 1000
    assert (
        "The WebSocket view /accept/late-response/ returned a 200 response after accepting "
        "the connection; it was not sent.\n"
    ) in caplog.text


def test_a_manual_accept_gets_the_hub_identity_and_releases_the_database() -> None:
    with run_server("--http") as server:
        status, cookie, _body = http_get(server, "/login/manual-ada/")
        assert status == 200
        session = cookie.partition("sessionid=")[2].partition(";")[0]
        headers = {"Cookie": cookie}
        with connect(f"{server.url}/accept/member/room/", additional_headers=headers) as ws:
            # The view queried the session before accepting; accept released it.
            assert ws.recv(timeout=5) == '{"user": "manual-ada", "holding_db": false}'
            assert ws.recv(timeout=5) == "joined"
            ws.send("publish to the group")  # ws.join() works: the hub is attached
            assert ws.recv(timeout=5) == "to the group"
            ws.send("presence")
            presence = ws.recv(timeout=5)
            assert '"user": ' in presence
            assert '"user": null' not in presence  # identity read before the 101
            ws.send(f"to-session {session} for this session only")
            assert ws.recv(timeout=5) == "for this session only"
