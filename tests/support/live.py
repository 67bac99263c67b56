"""Helpers of the live pages' browser tests: the test project served for Chromium,
a publisher in a process of its own, and what the pages show.

The pages are the test project's (``testproject.live``): htmx 2 and htmx 4 pages
that post a form or listen to a signed stream, and a Turbo page that listens
to one over a WebSocket or Server-Sent Events. Their htmx and Turbo come from
``tests/npm`` (installed with ``npm ci`` from its lock file).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from playwright.sync_api import Page, expect

from .browser import TIMEOUT_MS, RestartableSite
from .npmci import ensure_installed
from .servers import PROJECT, project_env

__all__ = [
    "count_loads",
    "expect_listening",
    "get",
    "live_site",
    "publisher",
    "shown",
]


def live_site(env: dict[str, str] | None = None) -> RestartableSite:
    """The test project on one port (pages and WebSockets), its npm packages installed."""
    ensure_installed()
    return RestartableSite(dict(env or {}), cwd=PROJECT)


def get(url: str) -> str:
    """GET ``url``; return the body."""
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.read().decode()


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def expect_listening(page: Page) -> None:
    """Wait until the page's htmx socket or Turbo stream source is open."""
    if page.locator("djws-stream-source").count():
        expect(page.locator("djws-stream-source")).to_have_attribute("data-state", "open")
    else:
        page.wait_for_function("window.socketState === 'open'", timeout=TIMEOUT_MS)


def shown(page: Page, where: str = "#messages li") -> list[str]:
    """The texts of the page's items."""
    return [text.strip() for text in page.locator(where).all_text_contents()]


def count_loads(page: Page) -> int:
    """How many times the page was loaded in its tab (a reset reloads it)."""
    return int(page.evaluate("window.loads"))


@contextlib.contextmanager
def publisher(
    stream: str, count: int, env: dict[str, str], *, format: str = "turbo", interval: float = 0.1
) -> Iterator[subprocess.Popen[str]]:
    """Publish ``m0`` ... to ``stream`` from a process of its own, ``interval`` apart.

    Like a Celery worker or a cron job, it goes on publishing while the server
    restarts (with Redis, the history keeps what it publishes meanwhile). It
    prints each message's position; it fails if any publish fails.
    """
    code = f"""
import time
from django.utils.html import format_html
from djws import live
from djws.live import htmx, turbo
helpers = htmx if {format!r} == "htmx" else turbo
for i in range({count}):
    item = format_html("<li>m{{}}</li>", i)
    print(live.publish({stream!r}, helpers.append("messages", item)), flush=True)
    time.sleep({interval})
"""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=PROJECT,
        env=project_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def wait_published(process: subprocess.Popen[str], count: int, timeout: float = 60) -> list[str]:
    """Wait for the publisher to finish; return the positions it printed."""
    output, _ = process.communicate(timeout=timeout)
    lines = output.strip().splitlines()
    assert process.returncode == 0, output
    assert len(lines) == count, output
    return lines


def page_events(page: Page) -> Any:
    """The messages the page's htmx got (tests' pages record them)."""
    return page.evaluate("window.received")
