"""djws.js, the JavaScript client, in a real browser against a real server.

The scripts run in the sample site's echo page (which loads djws.js) and talk to
the sample site's echo server, or to a port where nothing listens.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from .support import SAMPLE_SITE, Server, run_server
from .support.browser import echo_page, one_port_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with one_port_site(tmp_path_factory.mktemp("client")) as server:
        yield server


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with echo_page(browser, server) as page:
        yield page


def closed_port() -> int:
    """A port where nothing listens (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sends_before_open_are_queued_and_sent_in_order(page, server):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url);
            const received = [];
            const queued = [socket.send("one"), socket.send("two"), socket.sendJSON({n: 3})];
            socket.on("message", (event) => {
                received.push(event.data);
                if (received.length === 3) resolve({queued, received});
            });
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == {"queued": [False, False, False], "received": ["one", "two", '{"n":3}']}


def test_send_on_an_open_socket_is_immediate(page, server):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url);
            socket.on("open", (event) => resolve({
                sent: socket.send("now"),
                connected: socket.connected,
                reconnected: event.reconnected,
            }));
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == {"sent": True, "connected": True, "reconnected": False}


def test_json_event_carries_parsed_json_and_only_for_json(page, server):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url);
            const json = [], messages = [];
            socket.on("json", (event) => json.push(event.detail));
            socket.on("message", (event) => {
                messages.push(event.data);
                if (messages.length === 3) resolve({json, messages});
            });
            socket.sendJSON({name: "Ada", n: [1, 2]});
            socket.send("not json");
            socket.sendJSON("text");
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == {
        "json": [{"name": "Ada", "n": [1, 2]}, "text"],
        "messages": ['{"name":"Ada","n":[1,2]}', "not json", '"text"'],
    }


def test_binary_messages_arrive_as_array_buffers(page, server):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url);
            socket.on("message", (event) => resolve({
                isBuffer: event.data instanceof ArrayBuffer,
                bytes: Array.from(new Uint8Array(event.data)),
            }));
            socket.send(new Uint8Array([0, 1, 254, 255]));
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == {"isBuffer": True, "bytes": [0, 1, 254, 255]}


def test_relative_paths_become_same_origin_websocket_urls(page, server):
    assert page.evaluate("djws.url('/ws/echo/')") == f"{server.url}/ws/echo/"
    result = page.evaluate(
        """() => new Promise((resolve) => {
            const socket = new djws.Socket("/ws/echo/");
            socket.on("message", (event) => resolve([socket.url, event.data]));
            socket.send("relative");
        })"""
    )
    assert result == [f"{server.url}/ws/echo/", "relative"]


def test_backoff_grows_exponentially_up_to_the_maximum_with_jitter(page):
    delays = page.evaluate(
        """() => {
            const options = {minDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5};
            const at = (random) =>
                [0, 1, 2, 3, 4, 5].map((n) => djws.backoff(n, options, () => random));
            return {none: at(0), most: at(0.999999), half: at(0.5)};
        }"""
    )
    assert delays == {
        "none": [100, 200, 400, 800, 1000, 1000],
        "most": [50, 100, 200, 400, 500, 500],
        "half": [75, 150, 300, 600, 750, 750],
    }


def test_reconnection_attempts_follow_the_backoff_with_random_jitter(page):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const options = {minDelay: 40, maxDelay: 320, factor: 2, jitter: 0.5};
            const socket = new djws.Socket(url, options);
            const attempts = [], closes = [];
            socket.on("close", (event) => closes.push([event.code, event.willReconnect]));
            socket.on("reconnecting", (event) => {
                attempts.push([event.attempt, event.delay]);
                if (attempts.length === 6) {
                    socket.close();
                    resolve({attempts, closes, state: socket.readyState});
                }
            });
        })""",
        f"ws://127.0.0.1:{closed_port()}/",
    )
    bases = [40, 80, 160, 320, 320, 320]
    assert [attempt for attempt, _ in result["attempts"]] == [1, 2, 3, 4, 5, 6]
    for (_, delay), base in zip(result["attempts"], bases, strict=True):
        assert base / 2 <= delay <= base, (delay, base)
    # Jitter: the delays are not all the same fraction of their base.
    assert (
        len(
            {
                round(delay / base, 3)
                for (_, delay), base in zip(result["attempts"], bases, strict=True)
            }
        )
        > 1
    )
    assert result["closes"] == [[1006, True]] * 6
    assert result["state"] == 3  # WebSocket.CLOSED


def test_close_from_the_page_stops_reconnecting_and_sending(page, server):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url, {minDelay: 10});
            const events = [];
            socket.on("reconnecting", () => events.push("reconnecting"));
            socket.on("open", () => socket.close(1000, "bye"));
            socket.on("close", (event) => {
                events.push(["close", event.code, event.willReconnect]);
                let error = null;
                try { socket.send("after close"); } catch (e) { error = e.message; }
                // Wait well past minDelay: nothing more may happen.
                setTimeout(() => resolve({events, error, state: socket.readyState}), 300);
            });
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == {
        "events": [["close", 1000, False]],
        "error": "djws: send() after close(); call open() to reconnect",
        "state": 3,
    }


def test_queue_is_bounded(page):
    result = page.evaluate(
        """(url) => {
            const socket = new djws.Socket(url, {maxQueue: 2, autoOpen: false});
            socket.send("a"); socket.send("b");
            try { socket.send("c"); return "sent"; } catch (e) { return e.message; }
        }""",
        f"ws://127.0.0.1:{closed_port()}/",
    )
    assert result == "djws: send queue full (2 messages)"


def test_server_close_1011_is_retried_and_1000_is_not(page, tmp_path):
    # A server whose database was never migrated closes the chat with 1011:
    # djws.js retries it. The default shouldReconnect leaves 1000 alone.
    env = {"SAMPLE_SITE_DATABASE": str(tmp_path / "empty.sqlite3")}
    with run_server("--http", cwd=SAMPLE_SITE, env=env) as bare:
        result = page.evaluate(
            """(url) => new Promise((resolve) => {
                const socket = new djws.Socket(url, {minDelay: 20});
                socket.on("close", (event) => {
                    socket.close();
                    resolve([event.code, event.reason, event.willReconnect]);
                });
            })""",
            f"{bare.url}/ws/chat/",
        )
    assert result == [1011, "chat history unavailable: run manage.py migrate", True]
    assert page.evaluate(
        "[djws.DEFAULTS.shouldReconnect({code: 1000}), djws.DEFAULTS.shouldReconnect({code: 1001})]"
    ) == [False, True]


def test_server_close_3000_stops_reconnecting_and_tells_the_page(page):
    # 3000: the session the socket was opened with ended. Even a shouldReconnect that
    # says yes to everything is not asked: one connection, then "unauthorized".
    with run_server() as project:
        result = page.evaluate(
            """(url) => new Promise((resolve) => {
                const seen = [];
                const socket = new djws.Socket(
                    url, {minDelay: 20, shouldReconnect: () => true, autoOpen: false}
                );
                socket.on("connecting", () => seen.push("connecting"));
                socket.on("close", (e) => seen.push(["close", e.code, e.willReconnect]));
                socket.on("unauthorized", (e) => {
                    seen.push(["unauthorized", e.code, e.reason, e.description]);
                    setTimeout(() => resolve([seen, socket.state, socket.retryAt]), 1000);
                });
                socket.open();
            })""",
            f"{project.url}/close/3000/?reason=session%20expired",
        )
    assert result == [
        [
            "connecting",
            ["close", 3000, False],
            [
                "unauthorized",
                3000,
                "session expired",
                "not authorized any more: the session or ticket ended (3000: session expired)",
            ],
        ],
        "closed",
        None,
    ]
