"""Helpers of the browser tests: the sample site served for Chromium, and what pages show.

The ``browser`` and ``open_page`` fixtures are in ``conftest.py``; axe-core's
audit in :mod:`tests.support.accessibility`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from .npmci import ensure_installed
from .servers import SAMPLE_SITE, Server, free_port, manage, run_server, start_server

__all__ = [
    "PHONE",
    "TIMEOUT_MS",
    "RestartableSite",
    "echo_page",
    "expect_connected",
    "migrated_sample_site",
    "one_port_site",
]

#: A shared 2-core machine, and a page waiting out its reconnection backoff after a
#: restart: wait generously for what must happen.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)

#: The smallest screen the playground is made for (an iPhone SE's viewport).
PHONE = {"width": 375, "height": 667}


def migrated_sample_site(directory: Path) -> dict[str, str]:
    """Migrate a fresh sample-site SQLite database in ``directory``; return its environment.

    The sample site's htmx and Turbo are installed first, as its run.sh does.
    """
    ensure_installed(SAMPLE_SITE)
    env = {"SAMPLE_SITE_DATABASE": str(directory / "db.sqlite3")}
    result = manage("migrate", "--noinput", "-v0", cwd=SAMPLE_SITE, env=env)
    assert result.returncode == 0, result.stderr
    return env


@contextlib.contextmanager
def one_port_site(directory: Path, **env: str) -> Iterator[Server]:
    """Serve the sample site and its WebSockets on one port, with a fresh database."""
    env = {**migrated_sample_site(directory), **env}
    with run_server("--http", cwd=SAMPLE_SITE, env=env) as server:
        yield server


@contextlib.contextmanager
def echo_page(browser: Browser, server: Server) -> Iterator[Page]:
    """The sample site's echo page in a new browser context, djws.js loaded."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server.http_url}/echo/")
    page.wait_for_function("window.djws !== undefined")
    yield page
    context.close()


class RestartableSite:
    """The sample site (or the project in ``cwd``) on one port that stays the same
    across restarts."""

    def __init__(self, env: dict[str, str], cwd: Path = SAMPLE_SITE) -> None:
        self.env = env
        self.cwd = cwd
        self.port = free_port()
        self.server: Server | None = None
        self.start()

    def start(self) -> None:
        """Start serving (again)."""
        self.server = start_server("--http", f"127.0.0.1:{self.port}", cwd=self.cwd, env=self.env)

    def stop(self) -> None:
        """Stop the server: pages see their WebSockets close (1001) and try again."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def expect_connected(page: Page) -> None:
    """Wait until the page's status says it is connected."""
    expect(page.locator("#status")).to_have_attribute("data-state", "open")
    expect(page.locator("#status")).to_have_text("connected")
