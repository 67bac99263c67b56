"""@websocket views: messages, close codes, the request cycle around them."""

from __future__ import annotations

import contextlib

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.sync.client import connect

from .support import Server, wait_for

pytestmark = pytest.mark.fast


def test_echo_text_and_binary(server: Server) -> None:
    with connect(f"{server.url}/echo/") as ws:
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xff\x10")
        assert ws.recv(timeout=5) == b"\x00\xff\x10"
        ws.send("")
        assert ws.recv(timeout=5) == ""


def test_returning_closes_with_1000(server: Server) -> None:
    with connect(f"{server.url}/stamp/") as ws:
        assert ws.recv(timeout=5) == "stamped"  # the project's middleware ran
        with pytest.raises(ConnectionClosedOK) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 1000


def test_exception_closes_with_1011_and_logs_the_traceback(server: Server) -> None:
    with connect(f"{server.url}/raise/") as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 1011
    assert info.value.rcvd.reason == "internal server error"
    server.wait_for_log("ValueError: boom from a WebSocket view")
    server.wait_for_log("Error in WebSocket view /raise/")
    with connect(f"{server.url}/echo/") as ws:  # the worker serves on
        ws.send("after the error")
        assert ws.recv(timeout=5) == "after the error"


def test_view_chosen_close_code_and_reason_are_sent(server: Server) -> None:
    with (
        connect(f"{server.url}/close/4000/?reason=see%20you") as ws,
        pytest.raises(ConnectionClosed) as info,
    ):
        ws.recv(timeout=5)
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "see you")


def test_client_close_code_is_echoed(server: Server) -> None:
    with connect(f"{server.url}/echo/") as ws:
        ws.close(4321, "bye")
    assert ws.close_code == 4321
    assert ws.protocol.close_rcvd.code == 4321
    assert ws.protocol.close_rcvd.reason == "bye"


def test_subprotocol_is_chosen_by_server_preference_and_echoed(server: Server) -> None:
    with connect(f"{server.url}/subprotocol/", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(timeout=5) == "chat.v2"


def test_items_delivered_from_another_greenlet_arrive_in_order(server: Server) -> None:
    with connect(f"{server.url}/deliver/") as ws:
        ws.send("first")
        received = [ws.recv(timeout=5) for _ in range(4)]
    assert received[0] == "echo first"
    assert [m for m in received if m.startswith("tick")] == ["tick 0", "tick 1", "tick 2"]


def test_many_concurrent_connections_are_served(server: Server) -> None:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(f"{server.url}/echo/")) for _ in range(50)]
        for n, ws in enumerate(sockets):
            ws.send(f"message {n}")
        assert [ws.recv(timeout=10) for ws in sockets] == [f"message {n}" for n in range(50)]


def test_request_started_and_finished_fire_for_a_websocket(server: Server) -> None:
    before = server.log().count("signal request_finished")
    with connect(f"{server.url}/stamp/?signals") as ws:
        assert ws.recv(timeout=5) == "stamped"
    server.wait_for_log("signal request_started /stamp/")
    wait_for(lambda: server.log().count("signal request_finished") > before, 5, "request_finished")
