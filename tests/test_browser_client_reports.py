"""djws.js tells the page what happens to its messages: the queue, errors, state (issue 14).

The scripts run in the sample site's echo page (which loads djws.js) against the
sample site's servers, or a port where nothing listens.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from .support import SAMPLE_SITE, Server, free_port, run_server
from .support.browser import echo_page, one_port_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with one_port_site(tmp_path_factory.mktemp("client-reports")) as server:
        yield server


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with echo_page(browser, server) as page:
        yield page


def test_queued_messages_are_reported_then_sent_and_can_be_cancelled(page, server):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url, {autoOpen: false});
            const events = [];
            for (const type of ["queued", "sent", "dropped"]) {
                socket.on(type, (e) => events.push(
                    [type, e.data ?? e.messages, e.length ?? e.queued ?? e.reason]));
            }
            socket.send("one"); socket.send("two"); socket.send("three");
            const cancelled = [socket.cancel("two"), socket.cancel("two")];
            const waiting = [...socket.queue];
            socket.on("open", () => {
                socket.send("four");
                resolve({events, cancelled, waiting, after: socket.queue.length});
            });
            socket.open();
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == {
        "events": [
            ["queued", "one", 1],
            ["queued", "two", 2],
            ["queued", "three", 3],
            ["dropped", ["two"], "cancel"],
            ["sent", "one", True],
            ["sent", "three", True],
            ["sent", "four", False],
        ],
        "cancelled": [True, False],
        "waiting": ["one", "three"],
        "after": 0,
    }


def test_close_from_the_page_reports_the_messages_it_drops(page):
    result = page.evaluate(
        """(url) => {
            const socket = new djws.Socket(url, {autoOpen: false});
            let dropped = null;
            socket.on("dropped", (e) => { dropped = [e.messages, e.reason]; });
            socket.send("a"); socket.send(new Uint8Array([1]));
            socket.close();
            return {dropped: [dropped[0].length, dropped[0][0], dropped[1]], state: socket.state};
        }""",
        f"ws://127.0.0.1:{free_port()}/",
    )
    assert result == {"dropped": [2, "a", "close"], "state": "closed"}


def test_a_message_over_max_message_size_is_refused_before_sending(page, server):
    result = page.evaluate(
        """(url) => {
            const socket = new djws.Socket(url, {maxMessageSize: 4, autoOpen: false});
            const refused = (data) => {
                try { socket.send(data); return null; }
                catch (e) {
                    return [e.name, e.reason, e.size, e.limit, e instanceof djws.SendError];
                }
            };
            return {
                fits: [refused("abcd"), refused("éé"), refused(new Uint8Array(4))],
                over: refused("é€"),
                queued: socket.queue.length,
            };
        }""",
        f"{server.url}/ws/echo/",
    )
    assert result == {
        "fits": [None, None, None],
        "over": ["SendError", "too-big", 5, 4, True],
        "queued": 3,
    }


def test_byte_length_counts_what_the_browser_sends(page):
    result = page.evaluate(
        """() => ["a", "é", "€", "😀", "\\ud800", new Uint8Array(3), new Blob(["abc"])]
            .map((data) => djws.byteLength(data))"""
    )
    assert result == [1, 2, 3, 4, 3, 3, 3]


def test_state_and_retry_time_follow_the_connection(page, server):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url, {minDelay: 5000, jitter: 0});
            const states = [socket.state];
            socket.on("connecting", (e) => states.push(["connecting", e.attempt, socket.state]));
            socket.on("open", () => {
                states.push(socket.state);
                if (states.length > 3) {
                    socket.close();
                    resolve({states, retryAt: socket.retryAt, after: socket.state});
                    return;
                }
                socket.ws.close(4000, "test");  // as if the server had closed
            });
            socket.on("reconnecting", (e) => {
                const inFive = Math.abs(socket.retryAt - Date.now() - 5000) < 1000;
                states.push([socket.state, e.attempt, e.delay, inFive, e.at === socket.retryAt]);
                socket.open();  // "reconnect now"
            });
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == {
        "states": [
            "connecting",
            "open",
            ["waiting", 1, 5000, True, True],
            ["connecting", 1, "connecting"],
            "open",
        ],
        "retryAt": None,
        "after": "closed",
    }


def test_a_close_that_reports_a_fault_is_an_error_with_its_code_and_reason(page, tmp_path):
    env = {"SAMPLE_SITE_DATABASE": str(tmp_path / "empty.sqlite3")}
    with run_server("--http", cwd=SAMPLE_SITE, env=env) as bare:
        result = page.evaluate(
            """(url) => new Promise((resolve) => {
                const socket = new djws.Socket(url, {minDelay: 20});
                const errors = [];
                socket.on("error", (e) => errors.push([e.kind, e.code, e.reason, e.message]));
                socket.on("close", (e) => {
                    socket.close();
                    resolve({errors, description: e.description, last: socket.lastClose,
                             lastError: socket.lastError.kind});
                });
            })""",
            f"{bare.url}/ws/chat/",
        )
    reason = "chat history unavailable: run manage.py migrate"
    words = f"the server had an internal error (1011: {reason})"
    assert result == {
        "errors": [["close", 1011, "chat history unavailable: run manage.py migrate", words]],
        "description": words,
        "last": {
            "code": 1011,
            "reason": "chat history unavailable: run manage.py migrate",
            "wasClean": True,
            "description": words,
        },
        "lastError": "close",
    }


def test_a_refused_connection_is_a_socket_error_then_a_close(page):
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new djws.Socket(url, {minDelay: 10000});
            const events = [];
            socket.on("error", (e) => events.push(["error", e.kind, e.code]));
            socket.on("close", (e) => {
                events.push(["close", e.code, e.description, e.willReconnect]);
                socket.close();
                resolve(events);
            });
        })""",
        f"ws://127.0.0.1:{free_port()}/",
    )
    assert result == [
        ["error", "socket", None],
        ["close", 1006, "the connection was lost (1006)", True],
    ]


def test_describe_close_puts_codes_in_words(page):
    result = page.evaluate(
        """() => [
            djws.describeClose(1001, "server shutting down"),
            djws.describeClose(1009, ""),
            djws.describeClose(4321, "banned"),
            djws.describeClose(3000, "logged out"),
            djws.describeClose(3001),
        ]"""
    )
    assert result == [
        "the server is going away: restarting or shutting down (1001: server shutting down)",
        "a message was too big for the server (1009)",
        "closed by the application (4321: banned)",
        "not authorized any more: the session or ticket ended (3000: logged out)",
        "closed (3001)",
    ]


def test_every_message_received_goes_through_one_dispatch_method(page, server):
    # Where a protocol carried in the messages (acks, positions to resume from)
    # is to be handled: _dispatch sees every frame before any listener does.
    result = page.evaluate(
        """(url) => new Promise((resolve) => {
            const order = [];
            class Tapped extends djws.Socket {
                _dispatch(data) {
                    order.push(["dispatch", typeof data === "string" ? data : data.byteLength]);
                    super._dispatch(data);
                }
            }
            const socket = new Tapped(url);
            socket.on("message", (e) => {
                order.push(["message", typeof e.data === "string" ? e.data : e.data.byteLength]);
                if (order.length === 4) resolve(order);
            });
            socket.send("text");
            socket.send(new Uint8Array(2));
        })""",
        f"{server.url}/ws/echo/",
    )
    assert result == [["dispatch", "text"], ["message", "text"], ["dispatch", 2], ["message", 2]]
