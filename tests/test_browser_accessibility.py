"""The playground for people (issue 14): every page from 375 px wide up, audited by axe-core.

axe-core (:mod:`tests.accessibility`) runs in Chromium on every page, at desktop
size and at 375x667, with content in the logs and with things going wrong. The
rest is what axe cannot see: labels that are real ``<label>`` elements, message
boxes usable on a phone, right-to-left names isolated from their messages,
dates on older messages, and the keyboard.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from .support import SAMPLE_SITE, manage
from .support.accessibility import audit, format_violations
from .support.browser import PHONE, RestartableSite, expect_connected, migrated_sample_site

pytestmark = pytest.mark.browser

PAGES = ["/", "/chat/", "/echo/", "/ping/"]
SOCKET_PAGES = ["/chat/", "/echo/", "/ping/"]
SIZES = {"desktop": {"width": 1024, "height": 720}, "phone": PHONE}
_rooms = itertools.count()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableSite]:
    site = RestartableSite(migrated_sample_site(tmp_path_factory.mktemp("accessibility")))
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> dict[str, int]:
    return SIZES[request.param]


def fill_log(page: Page, path: str) -> None:
    """Use the page as people do, until its log scrolls."""
    if path == "/chat/":
        # A colour nobody could read on white: the page darkens it.
        page.fill("#color", "#ffee00")
        page.fill("#name", "Yellow")
    for i in range(14):
        if path == "/ping/" and i % 2:
            page.click("#ping")
        else:
            page.fill("#message", f"message number {i}, long enough to wrap on a phone")
            page.press("#message", "Enter")
            expect(page.locator("#message")).to_have_value("")
    if path != "/":
        expect(page.locator("#log li").nth(13)).to_be_attached()


def expect_no_violations(page: Page) -> None:
    violations = audit(page)
    assert violations == [], format_violations(violations)


@pytest.mark.parametrize("path", PAGES)
def test_no_axe_violations(site, open_page, size, path):
    url = f"{site.url}{path}"
    if path == "/chat/":
        url = f"{site.url}/chat/axe-{next(_rooms)}/"
    page = open_page(url, **size)
    if path != "/":
        expect_connected(page)
        fill_log(page, path)
    expect_no_violations(page)


def test_no_axe_violations_when_things_go_wrong(site, open_page, size):
    page = open_page(f"{site.url}/chat/axe-{next(_rooms)}/", **size)
    expect_connected(page)
    page.fill("#message", "   ")
    page.press("#message", "Enter")
    expect(page.locator("#errors")).to_be_visible()
    site.stop()
    try:
        expect(page.locator("#reconnect")).to_be_visible()
        page.fill("#message", "waiting")
        page.press("#message", "Enter")
        expect(page.locator("#log li.pending .cancel")).to_be_visible()
        expect(page.locator("#notice")).to_be_visible()
        expect_no_violations(page)
    finally:
        site.start()


@pytest.mark.parametrize("path", SOCKET_PAGES)
def test_every_input_has_a_label(site, open_page, path):
    page = open_page(f"{site.url}{path}")
    labels = page.evaluate(
        """() => Array.from(document.querySelectorAll("input"), (input) => [
            input.id, Array.from(input.labels, (label) => label.textContent.trim()),
        ])"""
    )
    expected = {
        "/chat/": [["name", ["Name"]], ["color", ["Colour"]], ["message", ["Message"]]],
        "/echo/": [["message", ["Message"]]],
        "/ping/": [["message", ["Anything else"]]],
    }
    assert labels == expected[path]


@pytest.mark.parametrize("path", SOCKET_PAGES)
def test_the_message_box_is_wide_and_in_view_on_load(site, open_page, size, path):
    page = open_page(f"{site.url}{path}", **size)
    expect_connected(page)
    width, height = size["width"], size["height"]
    box = page.locator("#message").bounding_box()
    assert box is not None
    # Wide enough to see what one types: at least 60 % of a phone's width.
    assert box["width"] >= 0.6 * min(width, 560), box
    # In view without scrolling, with its send button.
    assert box["y"] >= 0, box
    assert box["y"] + box["height"] <= height, box
    send = page.locator("#composer button[type=submit]").bounding_box()
    assert send is not None
    assert send["y"] + send["height"] <= height, send
    assert send["x"] + send["width"] <= width, send
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_right_to_left_name_is_isolated_from_its_message(site, open_page):
    page = open_page(f"{site.url}/chat/rtl-{next(_rooms)}/")
    expect_connected(page)
    page.fill("#name", "דנה")
    for text in ["שלום לכולם", "123 fine"]:
        page.fill("#message", text)
        page.press("#message", "Enter")
    messages = page.locator("#log li.message:not(.pending)")
    expect(messages).to_have_count(2)
    for i in range(2):
        name = messages.nth(i).locator(".name").bounding_box()
        text = messages.nth(i).locator(".text").bounding_box()
        assert name is not None
        assert text is not None
        # On this left-to-right page the name comes first, whole, then the message.
        assert name["x"] + name["width"] <= text["x"], (i, name, text)
        for part in (".name", ".text"):
            assert messages.nth(i).locator(part).evaluate(
                "(el) => getComputedStyle(el).unicodeBidi"
            ) in ("isolate", "plaintext")


def test_older_messages_show_their_date(site, open_page):
    room = f"dates-{next(_rooms)}"
    code = (
        "import datetime as dt\n"
        "from djws.contrib.chat.models import ChatMessage as M\n"
        f"m = M.objects.create(room={room!r}, name='Ada', color='#1f77b4', text='long ago')\n"
        "M.objects.filter(id=m.id).update(\n"
        "    created=dt.datetime(2024, 3, 5, 14, 7, tzinfo=dt.timezone.utc))\n"
    )
    result = manage("shell", "--no-imports", "-c", code, cwd=SAMPLE_SITE, env=site.env)
    assert result.returncode == 0, result.stderr
    page = open_page(f"{site.url}/chat/{room}/", locale="en-US", timezone_id="UTC")
    expect_connected(page)
    page.fill("#message", "today")
    page.press("#message", "Enter")
    times = page.locator("#log li.message:not(.pending) time")
    expect(times).to_have_count(2)
    expect(times.nth(0)).to_have_text("Mar 5, 2024, 02:07 PM")
    expect(times.nth(0)).to_have_attribute("datetime", "2024-03-05T14:07:00+00:00")
    expect(times.nth(1)).to_have_text(re.compile(r"^\d\d:\d\d [AP]M$"))


def focus_ring(page: Page) -> dict:
    return page.evaluate(
        """() => {
            const el = document.activeElement, style = getComputedStyle(el);
            return {id: el.id, tag: el.tagName, text: el.textContent.trim().slice(0, 30),
                    style: style.outlineStyle, width: parseFloat(style.outlineWidth)};
        }"""
    )


def test_the_chat_works_from_the_keyboard_with_focus_always_visible(site, open_page, size):
    page = open_page(f"{site.url}/chat/keys-{next(_rooms)}/", **size)
    expect_connected(page)
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None
    assert box["y"] >= 0  # on screen once focused
    seen = []
    for _ in range(14):
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        seen.append(ring["id"] or ring["text"])
        assert ring["style"] != "none", ring
        assert ring["width"] >= 2, ring
        if ring["id"] == "message":
            break
    # Pages, then who you are, the messages (a scrollable region) and the message box.
    pages = ["djws playground", "Chat", "Echo", "Ping", "htmx", "Turbo"]
    assert seen == [*pages, "name", "color", "log", "message"], seen
    page.keyboard.type("typed, not clicked")
    page.keyboard.press("Enter")
    expect(page.locator("#log li.message:not(.pending) .text")).to_have_text(["typed, not clicked"])
    expect(page.locator("#message")).to_be_focused()
