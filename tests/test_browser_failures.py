"""The playground is honest about failures (issue 14), in Chromium at desktop and phone sizes.

What is sent stays in its box until the server has it; what waits for the
connection is shown as pending; errors are in words, and stay until fixed or
dismissed; the page knows the server's limits before sending; a server's close
is shown with its reason; the status counts down to the next attempt.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from .support import SAMPLE_SITE, run_server
from .support.browser import PHONE, RestartableSite, expect_connected, migrated_sample_site

pytestmark = pytest.mark.browser

_rooms = itertools.count()
SIZES = {"desktop": {"width": 900, "height": 640}, "phone": PHONE}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableSite]:
    site = RestartableSite(migrated_sample_site(tmp_path_factory.mktemp("failures")))
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def restarts(site: RestartableSite) -> Iterator[RestartableSite]:
    """The site, for a test that stops it: running again afterwards whatever happens."""
    yield site
    if site.server is None:
        site.start()


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> dict[str, int]:
    return SIZES[request.param]


def chat(site: RestartableSite, open_page, size: dict[str, int], name: str = "Alice") -> Page:
    """Open a fresh chat room as ``name``, connected."""
    page = open_page(f"{site.url}/chat/room-{next(_rooms)}/", **size)
    expect_connected(page)
    page.fill("#name", name)
    return page


def hold_acks(page: Page) -> list:
    """Route the page's WebSocket through the test, which keeps the server's acks.

    Return the list the held acks go to; call ``release(held)`` to deliver them.
    """
    held: list = []

    def route(ws) -> None:
        server = ws.connect_to_server()

        def to_page(message) -> None:
            if isinstance(message, str) and json.loads(message).get("type") == "ack":
                held.append((ws, message))
            else:
                ws.send(message)

        server.on_message(to_page)
        ws.on_message(server.send)
        held.append(("route", ws))

    page.route_web_socket(re.compile(r".*/ws/chat/.*"), route)
    return held


def wait_until(page: Page, condition) -> None:
    """Let the page's events run until ``condition()`` holds."""
    for _ in range(200):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the condition never held")


def release(held: list) -> None:
    for ws, message in [item for item in held if item[0] != "route"]:
        ws.send(message)


def test_chat_text_stays_in_the_box_until_the_server_accepts_it(site, open_page, size):
    page = open_page(None, **size)
    held = hold_acks(page)
    page.goto(f"{site.url}/chat/room-{next(_rooms)}/")
    expect_connected(page)
    page.fill("#message", "Are you there?")
    page.press("#message", "Enter")
    # Sent, not acknowledged: the text is still in the box, and pending in the log.
    pending = page.locator("#log li.pending")
    expect(pending).to_have_attribute("data-state", "sending")
    expect(pending.locator(".text")).to_have_text("Are you there?")
    expect(pending.locator(".state")).to_have_text("sending…")
    expect(page.locator("#message")).to_have_value("Are you there?")
    expect(page.locator("#send")).to_be_disabled()
    wait_until(page, lambda: len(held) == 2)  # the route, and the ack
    release(held)
    expect(page.locator("#message")).to_have_value("")
    expect(page.locator("#log li.message:not(.pending) .text")).to_have_text(["Are you there?"])
    expect(page.locator("#log li.pending")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()


def test_an_over_length_paste_is_kept_whole_and_the_page_says_how_much_too_long(
    site, open_page, size
):
    page = chat(site, open_page, size)
    assert page.locator("#composer").get_attribute("data-text-max-length") == "1000"
    page.focus("#message")
    page.keyboard.insert_text("é" * 1234)  # as a paste does
    expect(page.locator("#message")).to_have_value("é" * 1234)
    expect(page.locator("#counter")).to_have_text("1,234 of 1,000 characters")
    page.press("#message", "Enter")
    expect(page.locator("#errors")).to_have_text(
        "Message: Too long: 1,234 characters, and at most 1,000 are accepted (remove 234)."
    )
    expect(page.locator("#log li")).to_have_count(0)
    expect(page.locator("#message")).to_have_value("é" * 1234)
    # Fixed: the error goes, and the message is sent.
    page.fill("#message", "é" * 1000)
    expect(page.locator("#errors-box")).to_be_hidden()
    page.press("#message", "Enter")
    expect(page.locator("#log li.message:not(.pending) .text")).to_have_text(["é" * 1000])


def test_a_server_rejection_is_in_plain_words_and_stays_when_others_post(site, open_page, size):
    alice = chat(site, open_page, size)
    bob = open_page(alice.url)
    expect_connected(bob)
    # The browser would stop a long name (maxlength); another client may not.
    alice.evaluate("document.getElementById('name').removeAttribute('maxlength')")
    alice.fill("#name", "N" * 40)
    alice.fill("#message", "hello")
    alice.press("#message", "Enter")
    expect(alice.locator("#errors")).to_have_text(
        "Name: Ensure this value has at most 32 characters (it has 40)."
    )
    expect(alice.locator("#name")).to_have_attribute("aria-invalid", "true")
    expect(alice.locator("#message")).to_have_value("hello")
    expect(alice.locator("#log li")).to_have_count(0)
    bob.fill("#message", "Someone else talking")
    bob.press("#message", "Enter")
    expect(alice.locator("#log li.message .text")).to_have_text(["Someone else talking"])
    expect(alice.locator("#errors")).to_be_visible()  # still there
    alice.click("#errors-dismiss")
    expect(alice.locator("#errors-box")).to_be_hidden()
    expect(alice.locator("#name")).not_to_have_attribute("aria-invalid", "true")
    alice.fill("#name", "Alice")
    alice.press("#message", "Enter")
    expect(alice.locator("#log li.message:not(.pending) .text")).to_have_text(
        ["Someone else talking", "hello"]
    )
    expect(alice.locator("#message")).to_have_value("")


def test_a_message_over_the_servers_size_limit_is_not_sent_and_the_page_says_why(
    site, open_page, size
):
    page = open_page(f"{site.url}/echo/", **size)
    expect_connected(page)
    # The limit is the server's WEBSOCKET_MAX_MESSAGE_SIZE, rendered into the page.
    assert page.evaluate("document.body.dataset.maxMessageSize") == str(1024 * 1024)
    page.evaluate(
        """() => {
            const input = document.getElementById("message");
            input.value = "x".repeat(1024 * 1024 + 1);
            input.dispatchEvent(new Event("input"));
        }"""
    )
    page.click("#send-text")
    expect(page.locator("#errors")).to_have_text(
        "Message: Too big to send: 1,048,577 bytes, and the server accepts at most "
        "1,048,576 (1 MiB) in one message."
    )
    assert page.evaluate("document.getElementById('message').value.length") == 1024 * 1024 + 1
    expect(page.locator("#log li")).to_have_count(0)
    expect_connected(page)


def test_a_close_for_a_message_too_big_is_shown_with_its_reason(site, open_page, size):
    page = open_page(f"{site.url}/echo/", **size)
    expect_connected(page)
    # As a page that does not know the limit would: the server closes with 1009.
    page.evaluate("playgroundSocket.options.maxMessageSize = null")
    page.evaluate("document.body.dataset.maxMessageSize = ''")
    page.evaluate(
        """() => {
            const input = document.getElementById("message");
            input.value = "x".repeat(1024 * 1024 + 1);
            input.dispatchEvent(new Event("input"));
        }"""
    )
    page.click("#send-text")
    expect(page.locator("#notice-text")).to_have_text(
        re.compile(
            r"^The server closed the connection: a message was too big for the server "
            r"\(1009: [^)]*over the limit[^)]*\)\. Reconnecting…$"
        )
    )
    expect(page.locator("#errors")).to_have_text(
        re.compile(r"^No echo came back: the connection closed \(a message was too big")
    )
    assert page.evaluate("document.getElementById('message').value.length") == 1024 * 1024 + 1
    expect(page.locator("#log li.out")).to_have_attribute("data-state", "failed")
    # Connected again, the notice stays until dismissed.
    expect_connected(page)
    expect(page.locator("#notice")).to_be_visible()
    page.click("#notice-dismiss")
    expect(page.locator("#notice")).to_be_hidden()


def test_a_server_error_close_is_shown_with_its_reason(open_page, tmp_path):
    env = {"SAMPLE_SITE_DATABASE": str(tmp_path / "never-migrated.sqlite3")}
    with run_server("--http", cwd=SAMPLE_SITE, env=env) as bare:
        page = open_page(f"{bare.http_url}/chat/")
        expect(page.locator("#notice-text")).to_have_text(
            "The server closed the connection: the server had an internal error "
            "(1011: chat history unavailable: run manage.py migrate). Reconnecting…"
        )
        expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
        page.evaluate("playgroundSocket.close()")


def test_an_empty_name_is_caught_by_the_browser(site, open_page, size):
    page = chat(site, open_page, size, name="")
    page.fill("#message", "who am I?")
    page.press("#message", "Enter")
    assert page.evaluate("document.getElementById('name').validity.valueMissing")
    expect(page.locator("#errors")).to_have_text("Name: Please fill out this field.")
    expect(page.locator("#log li")).to_have_count(0)
    expect(page.locator("#message")).to_have_value("who am I?")
    page.fill("#name", "   ")
    page.press("#message", "Enter")
    expect(page.locator("#errors")).to_have_text(
        "Name: Only spaces: a name needs something else too."
    )
    expect(page.locator("#log li")).to_have_count(0)


def test_a_whitespace_only_message_says_why_it_is_not_sent(site, open_page, size):
    page = chat(site, open_page, size)
    page.fill("#message", "    ")
    page.press("#message", "Enter")
    expect(page.locator("#errors")).to_have_text(
        "Message: Only spaces: type something to send (spaces alone are not sent)."
    )
    expect(page.locator("#message")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#log li")).to_have_count(0)


def test_a_message_typed_offline_is_shown_pending_and_sent_after_reconnecting(
    restarts, open_page, size
):
    site = restarts
    alice = chat(site, open_page, size)
    bob = open_page(alice.url)
    expect_connected(bob)
    site.stop()
    expect(alice.locator("#status")).to_have_attribute("data-state", "reconnecting")
    alice.fill("#message", "typed in a tunnel")
    alice.press("#message", "Enter")
    pending = alice.locator("#log li.pending")
    expect(pending.locator(".text")).to_have_text("typed in a tunnel")
    expect(pending.locator(".state")).to_have_text(
        "waiting for the connection: sent once it is back"
    )
    expect(pending.locator(".cancel")).to_be_visible()
    expect(alice.locator("#message")).to_have_value("typed in a tunnel")
    site.start()
    expect_connected(alice)
    expect(alice.locator("#log li.pending")).to_have_count(0)
    expect(alice.locator("#log li.message .text")).to_have_text(["typed in a tunnel"])
    expect(alice.locator("#message")).to_have_value("")
    expect(bob.locator("#log li.message .text")).to_have_text(["typed in a tunnel"])


def test_a_pending_message_can_be_cancelled(restarts, open_page):
    site = restarts
    page = chat(site, open_page, SIZES["desktop"])
    site.stop()
    expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    page.fill("#message", "never mind")
    page.press("#message", "Enter")
    page.click("#log li.pending .cancel")
    expect(page.locator("#log li")).to_have_count(0)
    expect(page.locator("#message")).to_have_value("never mind")
    expect(page.locator("#message")).to_be_editable()
    assert page.evaluate("playgroundSocket.queue.length") == 0


def test_a_message_sent_when_the_connection_drops_unconfirmed_stays_in_the_box(site, open_page):
    page = open_page(None)
    held = hold_acks(page)
    page.goto(f"{site.url}/chat/room-{next(_rooms)}/")
    expect_connected(page)
    page.fill("#message", "did this arrive?")
    page.press("#message", "Enter")
    expect(page.locator("#log li.pending")).to_have_attribute("data-state", "sending")
    route = next(ws for kind, ws in held if kind == "route")
    route.close(code=1012, reason="restarting")
    expect(page.locator("#errors")).to_have_text(
        re.compile(r"^Your last message may not have been posted: the connection closed ")
    )
    expect(page.locator("#message")).to_have_value("did this arrive?")
    expect(page.locator("#log li.pending")).to_have_count(0)


def test_the_status_counts_down_each_second_and_reconnect_now_connects(restarts, open_page):
    site = restarts
    page = open_page(f"{site.url}/echo/")
    expect_connected(page)
    expect(page.locator("#reconnect")).to_be_hidden()
    options = "{minDelay: 60000, maxDelay: 60000, jitter: 0}"
    page.evaluate(f"Object.assign(playgroundSocket.options, {options})")
    page.evaluate(
        """() => {
            const status = document.getElementById("status");
            window.seen = [];
            new MutationObserver(() => seen.push([performance.now(), status.textContent]))
                .observe(status, {childList: true, characterData: true, subtree: true});
        }"""
    )
    site.stop()
    page.wait_for_function(
        "seen.filter(([, text]) => text.startsWith('reconnecting in')).length >= 4"
    )
    seen = page.evaluate("seen.filter(([, text]) => text.startsWith('reconnecting in'))")[:4]
    assert [text for _, text in seen] == [f"reconnecting in {n} s…" for n in (60, 59, 58, 57)]
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(seen)]
    assert all(500 < gap < 1600 for gap in gaps), gaps  # each second, give or take a busy CPU
    site.start()
    page.locator("#reconnect").focus()
    page.keyboard.press("Enter")
    expect_connected(page)
    expect(page.locator("#reconnect")).to_be_hidden()
