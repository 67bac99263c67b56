"""Shared fixtures: a migrated test database, real servers, and Chromium's pages."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support import Server, manage, run_server
from .support.faults import PrivateRedis

# Debian's chromium, never a browser a test tool downloads.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the real PostgreSQL server")
    config.addinivalue_line("markers", "redis: needs the real Redis server")
    config.addinivalue_line("markers", "browser: needs Debian's chromium")
    config.addinivalue_line(
        "markers", "fast: the fast tier (./runtests.sh --fast): no services, under a minute"
    )


@pytest.fixture(scope="session", autouse=True)
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database file shared by every server of the session."""
    path = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    os.environ["DJWS_TEST_SQLITE"] = path
    result = manage("migrate", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One server for every test that only needs the default configuration."""
    with run_server() as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, driven by Playwright, for the browser tests of one module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis of the test's own, to kill or stop: never the machine's shared one."""
    server = PrivateRedis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in a new browser context (its own cookies and storage: another user).

    ``open_page(url, width=900, height=640, **context_options)``; with ``url=None``
    the page is not loaded yet (to route its WebSockets first). At the end of the
    test, no page may have had an uncaught JavaScript error.
    """
    from .support.browser import TIMEOUT_MS

    contexts = []

    def open_page(url: str | None, width: int = 900, height: int = 640, **options: Any) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        if url is not None:
            page.goto(url)
        return page

    yield open_page
    for context in contexts:
        for page in context.pages:
            assert page.js_errors == [], page.js_errors
        context.close()
