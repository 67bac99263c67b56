"""``runwebsocket --http``: the whole site and its WebSockets on one port."""

from __future__ import annotations

from websockets.sync.client import connect

from .support import http_get, run_server


def test_page_and_websocket_share_one_port_and_one_session() -> None:
    with run_server("--http") as server:
        assert f"Starting djws server at http://127.0.0.1:{server.port}/" in server.log()
        status, cookie, body = http_get(server, "/")
        assert (status, body) == (200, b"home visits=1")
        assert http_get(server, "/", cookie)[2] == b"home visits=2"

        with connect(f"{server.url}/session/", additional_headers={"Cookie": cookie}) as ws:
            assert ws.recv(timeout=5) == "visits=2"
            ws.send("written by the socket")
        # The WebSocket view's session change was saved by SessionMiddleware.
        assert http_get(server, "/", cookie)[2] == b"home visits=3"


def test_logged_in_user_is_seen_by_the_websocket_view() -> None:
    with run_server("--http") as server:
        status, cookie, body = http_get(server, "/login/alice/")
        assert (status, body) == (200, b"logged in as alice")
        with connect(f"{server.url}/whoami/", additional_headers={"Cookie": cookie}) as ws:
            assert ws.recv(timeout=5) == "alice"
        with connect(f"{server.url}/private/", additional_headers={"Cookie": cookie}) as ws:
            assert ws.recv(timeout=5) == "hello alice"


def test_websocket_view_reached_by_plain_http_answers_426() -> None:
    import http.client

    with run_server("--http") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/websocket-view/")
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status == 426
        assert response.getheader("Upgrade") == "websocket"
        # The same 426 the server gives any plain request on a WebSocket-only port.
        assert body == (
            b"426 Upgrade Required\n\nThis address serves WebSocket connections. "
            b"Open it with a WebSocket client (new WebSocket('ws://...') in a browser).\n"
        )


def test_http_errors_stay_http_errors() -> None:
    with run_server("--http") as server:
        assert http_get(server, "/no/such/page/")[0] == 404
        assert http_get(server, "/broken/")[0] == 500
        server.wait_for_log("RuntimeError: broken page")
