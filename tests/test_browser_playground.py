"""The sample site in a real browser (Debian's headless Chromium), in both deployment shapes.

* ``two-port``: ``manage.py runserver`` serves the pages, ``manage.py
  runwebsocket`` the WebSockets on another port (found through
  ``WEBSOCKET_SERVER_URL``, as a developer runs them side by side);
* ``one-port``: ``manage.py runwebsocket --http`` serves both.

The documentation's screenshots are taken by ``docs/screenshots.py``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Page, expect

from .support import SAMPLE_SITE, Server, free_port, start_server
from .support.browser import expect_connected, migrated_sample_site

pytestmark = pytest.mark.browser

_rooms = itertools.count()


@dataclass
class Site:
    """The sample site served in one of the two shapes; restartable."""

    shape: str
    env: dict[str, str]
    ws_port: int = 0
    pages: Server | None = None
    websockets: Server | None = None
    stopped: list[Server] = field(default_factory=list)

    def start(self) -> None:
        if self.shape == "one-port":
            self.websockets = start_server(
                "--http", f"127.0.0.1:{self.ws_port}", cwd=SAMPLE_SITE, env=self.env
            )
            self.pages = self.websockets
        else:
            self.websockets = start_server(
                f"127.0.0.1:{self.ws_port}", cwd=SAMPLE_SITE, env=self.env
            )
            if self.pages is None:
                command = [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    f"127.0.0.1:{free_port()}",
                ]
                env = {**self.env, "WEBSOCKET_SERVER_URL": f":{self.ws_port}"}
                self.pages = start_server(command=command, cwd=SAMPLE_SITE, env=env)

    def stop_websocket_server(self) -> None:
        assert self.websockets is not None
        self.websockets.stop()

    def stop(self) -> None:
        for server in {id(s): s for s in (self.pages, self.websockets) if s}.values():
            server.stop()

    @property
    def url(self) -> str:
        assert self.pages is not None
        return self.pages.http_url

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"


@pytest.fixture(scope="module", params=["two-port", "one-port"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The sample site in one shape, with a fresh database of its own."""
    env = migrated_sample_site(tmp_path_factory.mktemp("browser"))
    site = Site(shape=request.param, env=env, ws_port=free_port())
    site.start()
    try:
        yield site
    finally:
        site.stop()


def set_identity(page: Page, name: str, color: str) -> None:
    page.fill("#name", name)
    page.fill("#color", color)


def say(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.click("#send")


def expect_messages(page: Page, expected: list[tuple[str, str, str]]) -> None:
    """The chat log shows exactly these (name, computed name colour, text), in order."""
    messages = page.locator("#log li.message")
    expect(messages).to_have_count(len(expected))
    expect(messages.locator(".name")).to_have_text([name for name, _, _ in expected])
    expect(messages.locator(".text")).to_have_text([text for _, _, text in expected])
    for i, (_, color, _) in enumerate(expected):
        expect(messages.nth(i).locator(".name")).to_have_css("color", color)


RED = ("#cc0000", "rgb(204, 0, 0)")
GREEN = ("#008800", "rgb(0, 136, 0)")


def test_pages_point_at_the_websocket_server_of_their_shape(site, open_page):
    page = open_page(f"{site.url}/chat/")
    assert page.evaluate("document.body.dataset.wsUrl") == f"{site.ws_url}/ws/chat/lobby/"
    expect_connected(page)
    index = open_page(f"{site.url}/")
    expect(index.locator("#shape")).to_have_attribute("data-shape", site.shape)
    expect(index.locator(".ws-url").first).to_have_text(f"{site.ws_url}/ws/chat/")


def test_two_users_see_each_other_in_their_colours_and_a_latecomer_sees_history(site, open_page):
    # The lobby (/chat/) of this site's own database: no other test talks in it.
    alice = open_page(f"{site.url}/chat/")
    bob = open_page(f"{site.url}/chat/")
    expect_connected(alice)
    expect_connected(bob)
    set_identity(alice, "Alice", RED[0])
    set_identity(bob, "Bob", GREEN[0])

    say(alice, "Hello Bob!")
    expected = [("Alice", RED[1], "Hello Bob!")]
    expect_messages(bob, expected)
    expect_messages(alice, expected)

    say(bob, "Hi Alice, nice colour.")
    expected.append(("Bob", GREEN[1], "Hi Alice, nice colour."))
    expect_messages(alice, expected)
    expect_messages(bob, expected)

    say(alice, "Thanks! Green suits you.")
    expected.append(("Alice", RED[1], "Thanks! Green suits you."))
    expect_messages(bob, expected)

    carol = open_page(f"{site.url}/chat/")
    expect_connected(carol)
    expect_messages(carol, expected)


def test_invalid_name_shows_the_form_error_in_the_page(site, open_page):
    page = open_page(f"{site.url}/chat/{site.shape}-{next(_rooms)}/")
    expect_connected(page)
    page.evaluate("document.getElementById('name').removeAttribute('maxlength')")
    page.fill("#name", "N" * 40)
    say(page, "hello")
    expect(page.locator("#errors")).to_be_visible()
    # In the words of the form's labels, and the text stays in its box.
    expect(page.locator("#errors")).to_have_text(
        "Name: Ensure this value has at most 32 characters (it has 40)."
    )
    expect(page.locator("#log li.message")).to_have_count(0)
    expect(page.locator("#message")).to_have_value("hello")


def test_echo_page_repeats_text_and_binary(site, open_page):
    page = open_page(f"{site.url}/echo/")
    expect_connected(page)
    page.fill("#message", "hello, echo")
    page.click("#send-text")
    page.fill("#message", "hi")
    page.click("#send-binary")
    expect(page.locator("#log li.in")).to_have_text(["← hello, echo", "← 2 bytes: 68 69"])
    expect(page.locator("#log li.out")).to_have_text(["→ hello, echo", "→ 2 bytes: 68 69"])


def test_ping_page_answers_ping_and_pong_only(site, open_page):
    page = open_page(f"{site.url}/ping/")
    expect_connected(page)
    page.click("#ping")
    expect(page.locator("#log li.in")).to_have_text(["← pong"])
    page.click("#pong")
    page.fill("#message", "hello?")
    page.click("#send")
    page.click("#ping")
    # Replies come in order: the third reply is to the last ping, none to "hello?".
    expect(page.locator("#log li.in")).to_have_text(["← pong", "← ping", "← pong"])
    expect(page.locator("#log li.out")).to_have_text(["→ ping", "→ pong", "→ hello?", "→ ping"])


def test_pages_reconnect_by_themselves_after_a_server_restart(site, open_page):
    room = f"{site.shape}-restart-{next(_rooms)}"
    alice = open_page(f"{site.url}/chat/{room}/")
    bob = open_page(f"{site.url}/chat/{room}/")
    echo = open_page(f"{site.url}/echo/")
    for page in (alice, bob, echo):
        expect_connected(page)
    set_identity(alice, "Alice", RED[0])
    set_identity(bob, "Bob", GREEN[0])
    say(alice, "before")
    expected = [("Alice", RED[1], "before")]
    expect_messages(bob, expected)

    site.stop_websocket_server()
    for page in (alice, bob, echo):
        expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    # Sent while the server is down: queued by djws.js, sent once it is back.
    say(alice, "while you were away")
    site.start()

    expected.append(("Alice", RED[1], "while you were away"))
    for page in (alice, bob, echo):
        expect_connected(page)
    # Bob gets it once, live or in the history sent on rejoining, never twice.
    expect_messages(bob, expected)
    expect_messages(alice, expected)
    say(bob, "back again")
    expected.append(("Bob", GREEN[1], "back again"))
    expect_messages(alice, expected)
    expect_messages(bob, expected)

    echo.fill("#message", "echo after restart")
    echo.click("#send-text")
    expect(echo.locator("#log li.in")).to_have_text(["← echo after restart"])
