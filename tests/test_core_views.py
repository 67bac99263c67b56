"""@websocket views: messages, close codes, the request cycle around them.

The views run in this process, served by djws's test client (its real handshake
handler, the project's middleware and ``WEBSOCKET_URLCONF``); many connections
at once are a real server's.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from websockets.sync.client import connect

from .support import Server


@pytest.mark.fast
def test_echo_text_and_binary(ws_client: Any) -> None:
    with ws_client.connect("/echo/", compression=True) as ws:
        ws.send("héllo")
        assert ws.receive() == "héllo"
        ws.send(b"\x00\xff\x10")
        assert ws.receive() == b"\x00\xff\x10"
        ws.send("")
        assert ws.receive() == ""


@pytest.mark.fast
def test_returning_closes_with_1000(ws_client: Any) -> None:
    with ws_client.connect("/stamp/", compression=True) as ws:
        assert ws.receive() == "stamped"  # the project's middleware ran
        assert ws.receive() is None  # closed by the server
        assert ws.wait_closed() == 1000


@pytest.mark.fast
def test_the_in_process_server_leaves_no_error_behind(
    ws_client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """Its handler ends each connection as gunicorn's would (access line included)
    without an exception, which would only reach the hub's stderr."""
    with ws_client.connect("/echo/") as ws:
        ws.send("hi")
        assert ws.receive() == "hi"
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.fast
def test_the_test_client_fails_the_test_when_the_server_itself_raises(
    ws_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from djws.test import server

    # Break the handler's end of a connection, as a server bug would.
    monkeypatch.delattr(server._AccessLog, "access_log_enabled")
    ws = ws_client.connect("/echo/")
    ws.send("hi")
    assert ws.receive() == "hi"
    with pytest.raises(AssertionError, match="djws's server raised while serving /echo/: Attr"):
        ws.close()


@pytest.mark.fast
def test_exception_closes_with_1011_and_logs_the_traceback(
    ws_client_seeing_errors: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with ws_client_seeing_errors.connect("/raise/", compression=True) as ws:
        ws.send("go")
        assert ws.receive() is None
        assert ws.wait_closed() == 1011
    assert ws.close_reason == "internal server error"
    assert "ValueError: boom from a WebSocket view" in caplog.text
    assert "Error in WebSocket view /raise/" in caplog.text
    with ws_client_seeing_errors.connect("/echo/", compression=True) as ws:  # it serves on
        ws.send("after the error")
        assert ws.receive() == "after the error"


@pytest.mark.fast
def test_view_chosen_close_code_and_reason_are_sent(ws_client: Any) -> None:
    with ws_client.connect("/close/4000/?reason=see%20you") as ws:
        assert ws.receive() is None
        ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (4000, "see you")


@pytest.mark.fast
def test_client_close_code_is_echoed(ws_client: Any) -> None:
    with ws_client.connect("/echo/") as ws:
        ws.close(4321, "bye")
    # Closed by the client first: the code and reason are those the server sent back.
    assert ws.close_code == 4321
    assert ws.close_reason == "bye"


@pytest.mark.fast
def test_subprotocol_is_chosen_by_server_preference_and_echoed(ws_client: Any) -> None:
    with ws_client.connect("/subprotocol/", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.receive() == "chat.v2"


@pytest.mark.fast
def test_items_delivered_from_another_greenlet_arrive_in_order(ws_client: Any) -> None:
    with ws_client.connect("/deliver/", compression=True) as ws:
        ws.send("first")
        received = [ws.receive() for _ in range(4)]
    assert received[0] == "echo first"
    assert [m for m in received if m.startswith("tick")] == ["tick 0", "tick 1", "tick 2"]


def test_many_concurrent_connections_are_served(server: Server) -> None:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(f"{server.url}/echo/")) for _ in range(50)]
        for n, ws in enumerate(sockets):
            ws.send(f"message {n}")
        assert [ws.recv(timeout=10) for ws in sockets] == [f"message {n}" for n in range(50)]


@pytest.mark.fast
def test_request_started_and_finished_fire_for_a_websocket(
    ws_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = capsys.readouterr().out.count("signal request_finished")
    with ws_client.connect("/stamp/?signals", compression=True) as ws:
        assert ws.receive() == "stamped"
    # The project's receivers print them; the request has ended once the client closed.
    printed = capsys.readouterr().out
    assert "signal request_started /stamp/" in printed
    assert printed.count("signal request_finished") > before
