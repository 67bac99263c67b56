"""Nothing published is lost, seen from a browser: two chat windows through a restart.

One window's client sends 20 chat messages a second while the server restarts;
the other window, whose network also drops until the sending is over, must show
every message the server acknowledged, once, in order. With
Redis the broadcast history outlives the restart and djws.js resumes from its
positions (exactly the missed messages are replayed); with the default
``local://`` the restart loses the history, the server says so, and the chat
reloads its history from the database instead -- complete as long as the gap
fits in it, and otherwise the page says that messages are missing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .support.browser import RestartableSite, expect_connected, migrated_sample_site
from .support.faults import PrivateRedis

pytestmark = pytest.mark.browser

_rooms = itertools.count()
COUNT = 100  # messages, at 20 a second: 5 s of sending


def make_site(directory: Any, redis: PrivateRedis | None) -> RestartableSite:
    env = migrated_sample_site(directory)
    # The chat's own history in the database shows 10 messages: it cannot cover
    # the gap of a restart, so what fills it is djws's delivery, or nothing.
    env["WEBSOCKET_CHAT_HISTORY"] = "10"
    if redis is not None:
        env["WEBSOCKET_BROADCAST_URL"] = redis.url
    return RestartableSite(env)


@pytest.fixture
def redis_site(
    tmp_path_factory: pytest.TempPathFactory, private_redis: PrivateRedis
) -> Iterator[RestartableSite]:
    site = make_site(tmp_path_factory.mktemp("delivery"), private_redis)
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def local_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableSite]:
    site = make_site(tmp_path_factory.mktemp("delivery"), None)
    try:
        yield site
    finally:
        site.stop()


def start_sending(page: Page) -> None:
    """From this page, send COUNT numbered chat messages, 20 a second, with djws.js.

    Messages sent while the connection is down are queued and go out after it.
    """
    page.evaluate(
        """(count) => {
            const sender = new djws.Socket(document.body.dataset.wsUrl);
            window.sender = sender;
            window.sent = 0;
            window.acked = [];  // stored and published: the server said so
            sender.on("json", (event) => {
                if (event.detail.type === "ack") window.acked.push(event.detail.message.text);
            });
            const timer = setInterval(() => {
                if (window.sent >= count) { clearInterval(timer); return; }
                const text = "m" + window.sent;
                sender.sendJSON({name: "Alice", color: "#cc0000", text: text, client_id: text});
                window.sent += 1;
            }, 50);
        }""",
        COUNT,
    )


def texts_shown(page: Page) -> Any:
    return page.locator("#log li.message .text")


def restart_while_sending(site: RestartableSite, open_page: Any) -> tuple[Page, list[str]]:
    """Bob watches; Alice's client sends 20 messages a second; the server restarts.

    Return Bob's page and the texts the server acknowledged (stored and
    published), oldest first.
    """
    room = f"delivery-{next(_rooms)}"
    bob = open_page(f"{site.url}/chat/{room}/")
    expect_connected(bob)
    alice = open_page(f"{site.url}/chat/{room}/")
    expect_connected(alice)
    start_sending(alice)
    time.sleep(1.5)
    bob.context.set_offline(True)  # Bob's network drops, and stays down for a while
    site.stop()  # both windows lose their connection; Alice's client keeps queueing
    time.sleep(1.0)
    site.start()
    alice.wait_for_function(
        f"window.sent === {COUNT} && window.sender.queue.length === 0", timeout=30_000
    )
    alice.wait_for_function(f"window.acked.includes('m{COUNT - 1}')", timeout=30_000)
    acked: list[str] = alice.evaluate("window.acked")
    assert len(acked) > COUNT - 10, acked  # at most the few in flight at the stop
    bob.context.set_offline(False)  # back: djws.js reconnects at once
    return bob, acked


def test_with_redis_a_window_shows_every_stored_message_once_in_order_through_a_restart(
    redis_site: RestartableSite, open_page: Any
) -> None:
    bob, acked = restart_while_sending(redis_site, open_page)
    expect(texts_shown(bob).last).to_have_text(acked[-1], timeout=30_000)
    shown = texts_shown(bob).all_text_contents()
    # Every message the server acknowledged, once, in order: djws.js resumed from
    # its position and the missed ones were replayed (the chat's 10-message
    # history could not have covered them). A message sent as the connection
    # dropped may be stored without its acknowledgement reaching Alice: shown too.
    assert len(shown) == len(set(shown))
    assert shown == sorted(shown, key=lambda text: int(text[1:]))
    assert set(acked) <= set(shown), sorted(set(acked) - set(shown))
    assert bob.locator("#notice").is_hidden()


def test_with_local_a_lost_history_is_said_and_nothing_is_shown_twice(
    local_site: RestartableSite, open_page: Any
) -> None:
    """local:// keeps the history in runwebsocket's memory: a restart loses it."""
    bob, acked = restart_while_sending(local_site, open_page)
    expect(bob.locator("#notice-text")).to_have_text(
        "Some messages sent while you were away could not be recovered: the "
        "conversation continues from the most recent ones."
    )
    expect(texts_shown(bob).last).to_have_text(acked[-1], timeout=30_000)
    shown = texts_shown(bob).all_text_contents()
    assert len(shown) == len(set(shown))  # once each
    assert shown == sorted(shown, key=lambda text: int(text[1:]))  # in order
