"""Take the playground's screenshots that the documentation shows, into ``docs/_static/``.

From the top of a checkout, with djws and its test dependencies installed (as
``./runtests.sh`` leaves ``.venv``), and npm for the live pages' htmx and Turbo
(installed into ``sample_site/node_modules`` with ``npm ci`` if missing)::

    .venv/bin/python docs/screenshots.py             # docs/_static/*.png
    .venv/bin/python docs/screenshots.py --out DIR   # somewhere else

It starts the sample site (``manage.py runwebsocket --http`` on a free loopback
port, with a fresh SQLite database in a temporary directory), drives Debian's
Chromium (``/usr/bin/chromium``, never a downloaded browser) with Playwright
at desktop size and at 375x667, and stops the site. Names, colours, locale and
time zone are fixed; only the times of the messages change from run to run.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

__all__ = ["SHOTS", "main", "take_screenshots"]

DOCS = Path(__file__).resolve().parent
SAMPLE_SITE = DOCS.parent / "sample_site"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
DESKTOP = {"width": 900, "height": 640}
PHONE = {"width": 375, "height": 667}
#: The files written, and what each shows.
SHOTS = {
    "chat.png": "the chat at desktop size: three people, one name right-to-left",
    "chat-phone.png": "the same conversation on a 375x667 phone",
    "chat-offline.png": "the server is down: a pending message, the countdown, Reconnect now",
    "chat-error.png": "a message too long: kept in its box, the error in words",
    "echo-phone.png": "the echo page on a phone",
    "ping-phone.png": "the ping page on a phone",
    "live-htmx-phone.png": "live comments with htmx on a phone: an empty comment refused",
    "live-turbo-phone.png": "the same comments on the Turbo page, on a phone",
}


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sample_site(database: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Serve the sample site on ``port`` until the block ends."""
    env = {**os.environ, "SAMPLE_SITE_DATABASE": str(database), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "manage.py", "runwebsocket", "--http", "--noreload", f"127.0.0.1:{port}"],
        cwd=SAMPLE_SITE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sample site did not start") from None
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(30)


def open_page(browser: Browser, url: str, size: dict[str, int], name: str, color: str) -> Page:
    """Open ``url`` as a person called ``name``, in a browser context of their own."""
    context = browser.new_context(viewport=size, locale="en-GB", timezone_id="UTC")
    context.add_init_script(
        f"localStorage.setItem('djws-chat-name', {name!r});"
        f"localStorage.setItem('djws-chat-color', {color!r});"
    )
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#status")).to_have_attribute("data-state", "open")
    return page


def say(page: Page, text: str) -> None:
    """Send ``text`` from the page's message box, and wait for the server's ack."""
    page.fill("#message", text)
    page.press("#message", "Enter")
    expect(page.locator("#message")).to_have_value("")


def comment(page: Page, name: str, text: str) -> None:
    """Post a comment from a live page; wait for the form to come back."""
    page.fill("#id_name", name)
    page.fill("#id_text", text)
    page.press("#id_text", "Enter")
    if text:
        expect(page.locator("#id_text")).to_have_value("")


def live_screenshots(browser: Browser, url: str) -> dict[str, Page]:
    """The live comments, posted from both pages; an empty one refused on the htmx page."""
    pages = {}
    for kind in ("htmx", "turbo"):
        page = open_page(browser, f"{url}/live/{kind}/", PHONE, "", "")
        pages[f"live-{kind}-phone.png"] = page
    htmx, turbo = pages["live-htmx-phone.png"], pages["live-turbo-phone.png"]
    comment(htmx, "Ada", "Does it show up on the Turbo page too?")
    comment(turbo, "Grace", "It does, and here it came on a signed Turbo Stream.")
    comment(htmx, "Ada", "")
    expect(htmx.locator("#id_text-errors")).to_be_visible()
    expect(turbo.locator("#comments li")).to_have_count(2)
    return pages


def install_packages() -> None:
    """Install the sample site's npm packages (htmx, Turbo) if they are missing."""
    if not (SAMPLE_SITE / "node_modules" / "htmx.org").is_dir():
        command = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--silent"]
        subprocess.run(command, cwd=SAMPLE_SITE, check=True)  # noqa: S603 - npm


def take_screenshots(out: Path) -> list[Path]:
    """Start the sample site, take every screenshot of :data:`SHOTS` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    install_packages()
    written = []
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        database = Path(tmp) / "db.sqlite3"
        migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
        env = {**os.environ, "SAMPLE_SITE_DATABASE": str(database)}
        subprocess.run(migrate, cwd=SAMPLE_SITE, env=env, check=True)  # noqa: S603 - ditto
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with sample_site(database, port) as site:
            alice = open_page(browser, f"{url}/chat/", DESKTOP, "Alice", "#c0392b")
            bob = open_page(browser, f"{url}/chat/", PHONE, "Bob", "#1e7b34")
            dana = open_page(browser, f"{url}/chat/", DESKTOP, "דנה", "#7a4fb5")
            say(alice, "Hello Bob! Did the deploy go out?")
            say(bob, "It did: the pages reconnected by themselves.")
            say(dana, "שלום! גם אצלי הכול עובד")
            say(alice, "Nice, and nothing was lost.")
            expect(bob.locator("#log li.message")).to_have_count(4)
            shots = {"chat.png": alice, "chat-phone.png": bob}
            for page_url, name in ((f"{url}/echo/", "echo"), (f"{url}/ping/", "ping")):
                page = open_page(browser, page_url, PHONE, "", "")
                for text in ("hello", "ping", "héllo, wörld"):
                    if name == "ping" and text == "ping":
                        page.click("#ping")
                    else:
                        say(page, text)
                expect(page.locator("#log li.in")).not_to_have_count(0)
                page.wait_for_timeout(200)
                shots[f"{name}-phone.png"] = page
            shots.update(live_screenshots(browser, url))
            for filename, page in shots.items():
                page.screenshot(path=str(out / filename))
                written.append(out / filename)

            alice.fill("#message", "A very long story. " * 60)
            alice.press("#message", "Enter")
            expect(alice.locator("#errors")).to_be_visible()
            alice.click("h1")  # away from the browser's own bubble, which then goes
            alice.screenshot(path=str(out / "chat-error.png"))
            written.append(out / "chat-error.png")

            bob.evaluate("Object.assign(playgroundSocket.options, {minDelay: 9000, jitter: 0})")
            site.terminate()
            site.wait(30)
            expect(bob.locator("#status")).to_have_text(re.compile(r"^reconnecting in [1-8] s…$"))
            bob.fill("#message", "Typed in a tunnel, sent once we are out")
            bob.press("#message", "Enter")
            expect(bob.locator("#log li.pending")).to_be_visible()
            bob.screenshot(path=str(out / "chat-offline.png"))
            written.append(out / "chat-offline.png")
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    """Take the screenshots; print where they went."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_static", help="the directory")
    args = parser.parse_args(argv)
    for path in take_screenshots(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
