"""Tickets for clients without a cookie, through real servers and the websockets client.

A logged-in user gets a ticket from djws's ticket view over HTTP; a client
with no cookie presents it in the handshake (as the subprotocol
``djws.ticket.<ticket>`` or in ``?djws-ticket=``) and the view's
``request.user`` is that user. The ticket works once, not after it expired nor
with one byte changed (401, logged without the ticket); in the query string it
shows in no log line; a WebSocket it opened closes with 3000 when it expires,
unless refreshed over the socket.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .support import Server, login, manage, run_server, unique_prefix
from .support.auth import get, pk_of, refused, whoami

REUSED_BODY = b"Invalid ticket (reused): get a new ticket, then open this WebSocket again.\n"


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    """The test project on one port: its HTTP views issue tickets, its WebSocket views take them."""
    with run_server("--http", env={"DJWS_TEST_LOG_REQUESTS": "1"}) as server:
        yield server


def ticket_for(server: Server, username: str) -> str:
    """Log ``username`` in over HTTP, then get a ticket from the ticket view."""
    status, body = get(server, "/ws-ticket/", login(server, username))
    assert status == 200, body
    answer = json.loads(body)
    assert set(answer) == {"ticket", "expires_in"}
    return str(answer["ticket"])


def expect_refusal(server: Server, response: Any, reason: str) -> None:
    """A ticket's 401: the body names the reason, the log names it too."""
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Ticket"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert (
        response.body
        == (
            f"Invalid ticket ({reason.split(',')[0]}): get a new ticket, then open this "
            "WebSocket again.\n"
        ).encode()
    )
    server.wait_for_log(f"Unauthorized (ticket: {reason}): /auth/whoami/\n")


def test_a_ticket_opens_one_websocket_then_is_refused_as_reused(http_server: Server) -> None:
    ticket = ticket_for(http_server, "t-alice")
    offer = f"djws.ticket.{ticket}"
    with connect(f"{http_server.url}/auth/whoami/", subprotocols=[offer]) as ws:
        answer = whoami(ws)
        del answer["pid"]
        assert answer == {
            "user": "t-alice",
            "auth": "Ticket",
            "authenticator": "TicketAuthentication",
            "session": None,  # no cookie, and no session created
            "subprotocol": None,
            "offered": [],  # the view never sees the ticket
            "ws": "TicketWebSocket",
        }
        assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == [offer]
        ws.send("still me")
        assert ws.recv(timeout=10) == "still me"
    response = refused(http_server, "/auth/whoami/", subprotocols=[offer])
    expect_refusal(http_server, response, f"reused, user {pk_of(http_server, 't-alice')}")
    assert response.body == REUSED_BODY
    assert ticket not in http_server.log()


def test_the_ticket_view_answers_only_a_logged_in_user_and_is_never_cached(
    http_server: Server,
) -> None:
    assert get(http_server, "/ws-ticket/") == (403, b'{"detail": "Authentication required."}')
    request = urllib.request.Request(
        f"{http_server.http_url}/ws-ticket/",
        headers={"Cookie": f"sessionid={login(http_server, 't-kim')}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "no-store" in response.headers["Cache-Control"]
        answer = json.loads(response.read())
    assert answer["expires_in"] == 120
    assert set(answer["ticket"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    )


def test_a_ticket_replaces_the_session_user_and_is_refused_once_its_user_is_inactive(
    http_server: Server,
) -> None:
    session = login(http_server, "t-lee")
    ticket = ticket_for(http_server, "t-max")
    with connect(
        f"{http_server.url}/auth/whoami/",
        subprotocols=[f"djws.ticket.{ticket}"],
        additional_headers={"Cookie": f"sessionid={session}"},
    ) as ws:
        answer = whoami(ws)
    assert (answer["user"], answer["auth"], answer["session"]) == ("t-max", "Ticket", session)
    ticket = ticket_for(http_server, "t-max")
    assert get(http_server, "/deactivate/t-max/") == (200, b"deactivated")
    response = refused(http_server, "/auth/whoami/", subprotocols=[f"djws.ticket.{ticket}"])
    expect_refusal(
        http_server, response, f"unknown or inactive user, user {pk_of(http_server, 't-max')}"
    )


def test_a_ticket_with_one_byte_changed_is_refused_for_its_signature(http_server: Server) -> None:
    ticket = ticket_for(http_server, "t-mallory")
    payload, rest = ticket.split(".", 1)
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + rest
    response = refused(http_server, "/auth/whoami/", subprotocols=[f"djws.ticket.{forged}"])
    expect_refusal(http_server, response, "bad signature")
    # The untouched ticket still works: the forgery did not spend it.
    with connect(f"{http_server.url}/auth/whoami/?djws-ticket={ticket}") as ws:
        assert whoami(ws)["user"] == "t-mallory"


def test_the_chosen_subprotocol_is_echoed_never_the_ticket_beside_it(http_server: Server) -> None:
    ticket = ticket_for(http_server, "t-bob")
    offer = ["chat.v1", f"djws.ticket.{ticket}"]
    with connect(f"{http_server.url}/auth/chat/", subprotocols=offer) as ws:
        assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == ["chat.v1"]
        answer = whoami(ws)
    assert (answer["user"], answer["subprotocol"], answer["offered"]) == (
        "t-bob",
        "chat.v1",
        ["chat.v1"],
    )
    # Nothing the view speaks: the ticket entry, spent by now, is what the 101 names.
    ticket = ticket_for(http_server, "t-bob")
    offer = ["chat.v9", f"djws.ticket.{ticket}"]
    with connect(f"{http_server.url}/auth/chat/", subprotocols=offer) as ws:
        assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == [offer[1]]
        assert whoami(ws)["subprotocol"] is None


def test_a_missing_ticket_is_an_anonymous_user_as_before(http_server: Server) -> None:
    response = refused(http_server, "/auth/private/")
    assert response.status_code == 403
    assert response.body == (
        b"Authentication required: log in at /accounts/login/, then open this WebSocket again.\n"
    )
    with connect(f"{http_server.url}/auth/whoami/") as ws:
        answer = whoami(ws)
    assert (answer["user"], answer["auth"], answer["ws"]) == (None, None, "WebSocket")
    ticket = ticket_for(http_server, "t-carol")  # login_required lets the ticket's user in
    with connect(f"{http_server.url}/auth/private/", subprotocols=[f"djws.ticket.{ticket}"]) as ws:
        assert whoami(ws)["user"] == "t-carol"


def test_a_ticket_in_the_query_string_shows_in_no_log_line(http_server: Server) -> None:
    tickets = [ticket_for(http_server, "t-dave") for _ in range(4)]
    # Opened, then reused: 101 and 401.
    with connect(f"{http_server.url}/auth/whoami/?djws=1&djws-ticket={tickets[0]}") as ws:
        assert whoami(ws)["user"] == "t-dave"
    refused(http_server, f"/auth/whoami/?djws-ticket={tickets[0]}")
    # A view that fails before accepting: Django logs the error with its request.
    refused(http_server, f"/auth/broken/?djws-ticket={tickets[1]}")
    refused(http_server, "/auth/broken/", subprotocols=[f"djws.ticket.{tickets[2]}"])
    # A malformed handshake, refused before Django.
    raw = (
        f"GET /auth/whoami/?djws-ticket={tickets[3]}&djws-token=secret-token HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
    )
    from .support import raw_request

    reply = raw_request(http_server.host, http_server.port, raw.encode())
    assert reply.startswith(b"HTTP/1.1 426 ")
    http_server.wait_for_log('"GET /auth/whoami/?djws=1&djws-ticket=[redacted] HTTP/1.1" 101 ')
    http_server.wait_for_log('"GET /auth/whoami/?djws-ticket=[redacted] HTTP/1.1" 401 ')
    http_server.wait_for_log("Internal Server Error: /auth/broken/")
    http_server.wait_for_log("request /auth/broken/?djws-ticket=[redacted] GET=")
    http_server.wait_for_log("'HTTP_SEC_WEBSOCKET_PROTOCOL': 'djws.ticket.[redacted]'")
    http_server.wait_for_log(
        '"GET /auth/whoami/?djws-ticket=[redacted]&djws-token=[redacted] HTTP/1.1" 426 '
    )
    log = http_server.log()
    assert "RuntimeError: broken before accepting" in log
    for secret in [*tickets, "secret-token"]:
        assert secret not in log
        assert secret.rsplit(".", 1)[-1] not in log  # not even its signature


def test_a_ticket_fails_once_expired() -> None:
    with run_server("--http", env={"WEBSOCKET_TICKET_MAX_AGE": "1"}) as server:
        ticket = ticket_for(server, "t-erin")
        time.sleep(2.2)  # a second of life, counted from the whole second it was issued in
        response = refused(server, "/auth/whoami/", subprotocols=[f"djws.ticket.{ticket}"])
        expect_refusal(server, response, f"expired, user {pk_of(server, 't-erin')}")


def ticks_until_closed(ws: ClientConnection, deadline: float) -> tuple[int, str]:
    """Read "tick" messages until the server closes, before ``deadline``; its code and reason."""
    try:
        while ws.recv(timeout=max(0.1, deadline - time.monotonic())) == "tick":
            pass
    except ConnectionClosed as closed:
        rcvd = closed.rcvd
    else:
        raise AssertionError("a message other than tick")
    if rcvd is None:
        raise AssertionError("closed without a close frame")
    return rcvd.code, rcvd.reason


def test_a_websocket_closes_with_3000_when_its_ticket_expires_unless_refreshed() -> None:
    # Tickets live 10 s, counted from the whole second they were issued in: 9 to 10 s.
    with run_server("--http", env={"WEBSOCKET_TICKET_MAX_AGE": "10"}) as server:
        login(server, "t-fay")  # the server's first requests are its slowest
        minting = time.monotonic()
        plain_ticket, refreshed_ticket = ticket_for(server, "t-fay"), ticket_for(server, "t-fay")
        sender_ticket = ticket_for(server, "t-fay")
        minted = time.monotonic()
        with (
            connect(f"{server.url}/auth/whoami/?djws-ticket={plain_ticket}") as plain,
            connect(f"{server.url}/auth/whoami/?djws-ticket={refreshed_ticket}") as refreshed,
            connect(f"{server.url}/auth/sender/?djws-ticket={sender_ticket}") as sender,
        ):
            assert whoami(plain)["user"] == whoami(refreshed)["user"] == "t-fay"
            time.sleep(max(0.0, minting + 6 - time.monotonic()))
            # Bad refreshes are answered, and change nothing.
            for value, reason in [
                (refreshed_ticket, "reused"),
                (ticket_for(server, "t-gus"), "another user's"),
                ("garbage", "bad signature"),
            ]:
                refreshed.send(json.dumps({"djws": "refresh", "ticket": value}))
                assert json.loads(refreshed.recv(timeout=10)) == {
                    "djws": "refresh-failed",
                    "reason": reason,
                }
            server.wait_for_log("Ticket refresh refused (ticket: reused, user ")
            refreshing = time.monotonic()
            assert refreshing < minting + 9, "too slow to refresh before the first tickets expire"
            refreshed.send(json.dumps({"djws": "refresh", "ticket": ticket_for(server, "t-fay")}))
            answer = json.loads(refreshed.recv(timeout=10))
            assert answer["djws"] == "refreshed"
            assert 8 <= answer["expires_in"] <= 10
            # A view that never receives never sees a refresh: its first ticket stands.
            sender.send(json.dumps({"djws": "refresh", "ticket": ticket_for(server, "t-fay")}))
            # The first tickets expire 9 to 10 s after they were minted, and the
            # keepalive pass that closes comes within a second.
            with pytest.raises(ConnectionClosed) as info:
                plain.recv(timeout=max(0.1, minted + 12 - time.monotonic()))
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (3000, "ticket expired")
            assert time.monotonic() - minting >= 9
            assert ticks_until_closed(sender, minted + 12) == (3000, "ticket expired")
            refreshed.send("alive")  # its new ticket lives 9 s at least from its refresh
            assert refreshed.recv(timeout=10) == "alive"
            with pytest.raises(ConnectionClosed) as info:
                refreshed.recv(timeout=15)
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (3000, "ticket expired")
            assert time.monotonic() - refreshing >= 9
        server.wait_for_log('"/auth/whoami/" WebSocket closed 3000 (ticket expired) after ')


def test_a_ticket_no_middleware_reads_is_logged() -> None:
    with run_server("--http", env={"DJWS_TEST_AUTH_MIDDLEWARE": "0"}) as server:
        ticket = ticket_for(server, "t-hal")
        with connect(f"{server.url}/auth/whoami/", subprotocols=[f"djws.ticket.{ticket}"]) as ws:
            assert ws.recv(timeout=10)  # the view runs, for an anonymous user
        server.wait_for_log(
            "A ticket came in the subprotocol of a handshake to /auth/whoami/, but no "
            "middleware authenticated it: the request was handled as its session's or "
            "anonymous. Add 'djws.auth.WebSocketAuthenticationMiddleware' to MIDDLEWARE, "
            "after AuthenticationMiddleware.\n"
        )


@pytest.mark.redis
def test_a_ticket_opens_one_websocket_across_workers_with_a_shared_cache() -> None:
    env = {
        "DJWS_TEST_CACHE": "redis://127.0.0.1:6379/0",
        "DJWS_TEST_BROADCAST_URL": "redis://127.0.0.1:6379/0",
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
        "DJWS_TEST_LOG_PIDS": "1",
    }
    with run_server("--http", "--workers", "2", env=env) as server:
        deadline = time.monotonic() + 60
        while True:  # which worker accepts a connection is the kernel's choice
            assert time.monotonic() < deadline, "every connection went to one worker"
            ticket = ticket_for(server, "t-ivy")
            with connect(f"{server.url}/auth/whoami/?djws-ticket={ticket}") as ws:
                opened_on = whoami(ws)["pid"]
            reused = f"Unauthorized (ticket: reused, user {pk_of(server, 't-ivy')}): /auth/whoami/"
            already = server.log().count(reused)
            for _ in range(6):
                response = refused(server, f"/auth/whoami/?djws-ticket={ticket}")
                assert (response.status_code, response.body) == (401, REUSED_BODY)
            server.wait_for_log(reused)
            lines = [line for line in server.output if line.rstrip("\n").endswith(reused)]
            deadline_log = time.monotonic() + 10
            while len(lines) < already + 6 and time.monotonic() < deadline_log:
                time.sleep(0.05)
                lines = [line for line in server.output if line.rstrip("\n").endswith(reused)]
            refused_on = {int(line.split(" ", 1)[0]) for line in lines[already:]}
            if refused_on - {opened_on}:
                break  # refused by the other worker too: the cache is shared


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        (
            {"DJWS_TEST_CACHE": "dummy"},
            "djws.E032",
            "CACHES['default'] is a DummyCache: it remembers nothing, so every ticket could "
            "open any number of WebSockets.",
        ),
        (
            {"DJWS_RUNWEBSOCKET_WORKERS": "2"},
            "djws.W031",
            "WEBSOCKET_TICKET_CACHE is 'default', a per-process cache, and runwebsocket "
            "starts 2 workers: a ticket used in one process is not remembered by the others, "
            "so it could open one WebSocket in each.",
        ),
        (
            {"DJWS_TEST_TICKET_CACHE": "tickets"},
            "djws.E032",
            "WEBSOCKET_TICKET_CACHE is 'tickets', which is not in CACHES.",
        ),
        (
            {"DJWS_TEST_AUTH_CLASSES": "djws.auth.TicketAuthentication nowhere.Nothing"},
            "djws.E031",
            "WEBSOCKET_AUTHENTICATION_CLASSES names 'nowhere.Nothing', which cannot be "
            "imported: No module named 'nowhere'",
        ),
        (
            {"DJWS_TEST_AUTH_MIDDLEWARE": "first"},
            "djws.E030",
            "'djws.auth.WebSocketAuthenticationMiddleware' must come after "
            "'django.contrib.auth.middleware.AuthenticationMiddleware' in MIDDLEWARE.",
        ),
    ],
)
def test_system_checks_name_a_ticket_store_or_middleware_that_cannot_work(
    env: dict[str, str], code: str, message: str
) -> None:
    result = manage("check", env=env)
    assert f"?: ({code}) {message}" in result.stderr
    shared = manage("check", env={**env, "DJWS_TEST_CACHE": "redis://127.0.0.1:6379/0"})
    assert ("djws.W031" in shared.stderr) is False


def test_check_deploy_warns_about_a_per_process_ticket_store() -> None:
    result = manage("check", "--deploy")
    assert (
        "?: (djws.W031) WEBSOCKET_TICKET_CACHE is 'default', a per-process cache, and "
        "production usually runs several processes:" in result.stderr
    )
    shared = manage("check", "--deploy", env={"DJWS_TEST_CACHE": "redis://127.0.0.1:6379/0"})
    assert "djws.W031" not in shared.stderr
