"""Keepalive pings, dead peers and the idle timeout (:mod:`djws.server.keepalive`).

End to end, with the real intervals set small through the environment. The
exact timing decisions are the protocol's and are tested with a controlled
clock (``test_protocol_core.py``); here every wait is for an event -- a frame,
EOF, a count of open connections -- bounded only by the client's own timeouts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from .support import RawClient, Server, close_frame, run_server, wait_for


@pytest.fixture(scope="module")
def pinging() -> Iterator[Server]:
    env = {
        "WEBSOCKET_PING_INTERVAL": "0.5",
        "WEBSOCKET_PING_TIMEOUT": "1.0",
        "WEBSOCKET_CLOSE_TIMEOUT": "1.0",
    }
    with run_server(env=env) as server:
        yield server


@pytest.fixture(scope="module")
def idle() -> Iterator[Server]:
    with run_server(env={"WEBSOCKET_IDLE_TIMEOUT": "1.5"}) as server:
        yield server


def open_connections(server: Server) -> int:
    """Open WebSockets in the worker, not counting the one asking."""
    with connect(f"{server.url}/protocol/stats/", open_timeout=10) as ws:
        return json.loads(ws.recv(timeout=10))["open"] - 1


def wait_for_open_connections(server: Server, expected: int, timeout: float = 10.0) -> None:
    wait_for(
        lambda: open_connections(server) == expected,
        timeout,
        lambda: f"{expected} connections open (now {open_connections(server)})",
        interval=0.1,
    )


def test_silent_client_is_pinged(pinging: Server) -> None:
    with RawClient(pinging) as client:
        assert client.recv_raw_frame() == b"\x89\x00"


def test_client_that_answers_pings_stays_connected(pinging: Server) -> None:
    with connect(f"{pinging.url}/echo/") as ws:  # answers pings by itself
        time.sleep(3.5)
        ws.send("alive")
        assert ws.recv(timeout=10) == "alive"


def test_dead_peer_is_closed_with_1011_and_freed(pinging: Server) -> None:
    wait_for_open_connections(pinging, 0)
    with RawClient(pinging, answer_pings=False) as client:
        wait_for_open_connections(pinging, 1)
        while (frame := client.recv_raw_frame()) == b"\x89\x00":
            pass  # pings, unanswered
        assert frame == close_frame(1011, "keepalive ping timeout")
        client.expect_eof()
    wait_for_open_connections(pinging, 0)


def test_peer_that_vanishes_without_closing_is_freed(pinging: Server) -> None:
    """The client stops reading and never closes TCP: the close timeout cuts it."""
    wait_for_open_connections(pinging, 0)
    client = RawClient(pinging, answer_pings=False)
    try:
        wait_for_open_connections(pinging, 1)
        wait_for_open_connections(pinging, 0, timeout=10)
    finally:
        client.close()


def test_idle_client_is_closed_with_1000(idle: Server) -> None:
    with RawClient(idle) as client:
        started = time.monotonic()
        assert client.recv_frame() == close_frame(1000, "idle timeout")
        assert time.monotonic() - started > 1.4  # not before WEBSOCKET_IDLE_TIMEOUT
        client.send_frame(0x8, (1000).to_bytes(2, "big"))
        client.expect_eof(timeout=1.0)  # the server closes TCP once the handshake is done


def test_client_sending_messages_is_not_idle(idle: Server) -> None:
    with connect(f"{idle.url}/echo/") as ws:
        for n in range(8):  # 3.2 s in all, past twice the idle timeout
            ws.send(str(n))
            assert ws.recv(timeout=10) == str(n)
            time.sleep(0.4)


def test_pongs_do_not_count_as_activity(idle: Server) -> None:
    """Only messages reset the idle clock: a client answering pings is still idle."""
    with RawClient(idle) as client:
        for _ in range(5):
            client.send_frame(0xA, b"unsolicited pong")
            time.sleep(0.2)
        client.expect_close(1000, "idle timeout", answer=True)


def test_live_client_of_a_view_that_never_receives_is_kept(pinging: Server) -> None:
    """The view only sends for 5 s; the keepalive loop reads the client's pongs itself."""
    with connect(f"{pinging.url}/protocol/ticker/") as ws:
        ticks = [ws.recv(timeout=10) for _ in range(25)]
        assert ticks == [f"tick {n}" for n in range(25)]
    assert ws.close_code == 1000


def test_dead_client_of_a_view_that_never_receives_is_closed(pinging: Server) -> None:
    with RawClient(pinging, "/protocol/ticker/", answer_pings=False) as client:
        frames = []
        while (frame := client.recv_raw_frame())[0] != 0x88:
            frames.append(frame)
        assert frame == close_frame(1011, "keepalive ping timeout")
        assert b"\x89\x00" in frames


class Ticked:
    """A connection of the registry that records the keepalive pass's calls."""

    closed = False

    def __init__(self, tick_due: float) -> None:
        self.tick_due = tick_due
        self.ticks: list[float] = []

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    def tick(self, now: float, **limits: float | None) -> None:
        self.ticks.append(now)


def test_the_pass_calls_only_the_connections_that_are_due() -> None:
    """A waiting view with nothing due costs the pass a comparison, not a call."""
    from djws.conf import ServerSettings
    from djws.server.keepalive import check_connections
    from djws.server.registry import registry

    waiting, due, busy = Ticked(130.0), Ticked(100.0), Ticked(0.0)
    for ws in (waiting, due, busy):
        registry.add(ws)
    try:
        check_connections(100.0, ServerSettings.read())
        check_connections(101.0, ServerSettings.read())
    finally:
        for ws in (waiting, due, busy):
            registry.discard(ws)
    assert (waiting.ticks, due.ticks, busy.ticks) == ([], [100.0, 101.0], [100.0, 101.0])
