"""Server-Sent Events (``@event_stream``): the same groups over plain HTTP, resumable.

A real server, read with a raw HTTP client: each message is an event whose
``id`` carries the group positions, so a reconnection with ``Last-Event-ID``
replays what was missed; a gap the history cannot cover is an ``event: reset``.
The project's middleware runs (``login_required``), and a foreign Origin is refused.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from .support import Events, Server, http_get, join, login, publish, run_server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server("--http", env={"WEBSOCKET_BROADCAST_HISTORY": "5"}) as server:
        yield server


def test_messages_arrive_as_events_with_their_positions(server: Server) -> None:
    events = Events(server, "/events/s-plain/")
    try:
        assert events.response.status == 200
        assert events.response.getheader("Content-Type") == "text/event-stream"
        assert events.response.getheader("Cache-Control") == "no-cache"
        assert events.next() == {"retry": "1000"}
        positions = publish(server, "s-plain", "one", "two\nlines")
        assert events.next() == {"id": f"s-plain={positions[0]}", "data": "one"}
        assert events.next() == {"id": f"s-plain={positions[1]}", "data": "two\nlines"}
    finally:
        events.close()


def test_last_event_id_resumes_every_group_from_its_position(server: Server) -> None:
    events = Events(server, "/events/s-a/?also=s-b")
    try:
        events.next()
        a1 = publish(server, "s-a", "a1")[0]
        epoch = a1.partition(":")[0]
        assert events.next()["id"] == f"s-a={a1}&s-b={epoch}:0"  # every joined group
        b1 = publish(server, "s-b", "b1")[0]
        last = events.next()
        assert last == {"id": f"s-a={a1}&s-b={b1}", "data": "b1"}
    finally:
        events.close()
    missed_a = publish(server, "s-a", "a2")[0]
    missed_b = publish(server, "s-b", "b2", "b3")
    events = Events(server, "/events/s-a/?also=s-b", {"Last-Event-ID": last["id"]})
    try:
        events.next()
        assert events.next() == {"id": f"s-a={missed_a}&s-b={b1}", "data": "a2"}
        assert events.next() == {"id": f"s-a={missed_a}&s-b={missed_b[0]}", "data": "b2"}
        assert events.next() == {"id": f"s-a={missed_a}&s-b={missed_b[1]}", "data": "b3"}
    finally:
        events.close()


def test_a_gap_older_than_the_history_is_an_explicit_reset(server: Server) -> None:
    first = publish(server, "s-old", "first")[0]
    later = publish(server, "s-old", *(f"m{n}" for n in range(7)))  # history keeps 5
    events = Events(server, "/events/s-old/", {"Last-Event-ID": f"s-old={first}"})
    try:
        events.next()
        assert events.next() == {"event": "reset", "id": f"s-old={later[-1]}", "data": "s-old"}
    finally:
        events.close()


def test_binary_messages_are_sent_in_base64(server: Server) -> None:
    events = Events(server, "/events/s-bin/")
    try:
        events.next()
        with join(server, "s-bin") as ws:
            ws.send("publish-bytes \x00\xff")
            ws.recv(timeout=10)
        event = events.next()
        assert (event["event"], event["data"]) == ("binary", "AMO/")  # b"\x00\xc3\xbf"
    finally:
        events.close()


def test_the_projects_middleware_runs_login_required_included(server: Server) -> None:
    status, _cookies, _body = http_get(server, "/events/private/")
    assert status == 404  # a plain GET is not for the event-stream views
    anonymous = Events(server, "/events/private/")
    try:
        assert anonymous.response.status == 302
        assert anonymous.response.getheader("Location").startswith("/accounts/login/?next=")
    finally:
        anonymous.close()
    session = login(server, "s-alice")
    events = Events(server, "/events/private/", {"Cookie": f"sessionid={session}"})
    try:
        assert events.response.status == 200
        assert events.next() == {"retry": "1000"}
    finally:
        events.close()


def test_a_foreign_origin_is_refused(server: Server) -> None:
    events = Events(server, "/events/s-x/", {"Origin": "https://evil.example"})
    try:
        assert events.response.status == 403
        assert events.response.read() == b"Origin not allowed for this event stream.\n"
    finally:
        events.close()


def test_an_allowed_origin_gets_cors_headers(server: Server) -> None:
    origin = f"http://127.0.0.1:{server.port}"
    events = Events(server, "/events/s-cors/", {"Origin": origin})
    try:
        assert events.response.getheader("Access-Control-Allow-Origin") == origin
        assert events.response.getheader("Access-Control-Allow-Credentials") == "true"
    finally:
        events.close()


def test_streams_end_when_the_server_stops() -> None:
    with run_server("--http") as server:
        events = Events(server, "/events/s-stop/")
        events.next()
        server.stop()
        with pytest.raises((AssertionError, socket.error, http.client.HTTPException)):
            events.next()  # the stream ends: no hanging reader
        events.close()
