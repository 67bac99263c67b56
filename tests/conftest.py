"""Shared fixtures: the session's database, real servers, the in-process client, Chromium.

Also Django, configured in this process with the test project's settings for
the views tested in-process (:mod:`tests.support.inprocess`), and the fast
tier's rule: a test marked ``fast`` starts no server process and runs no
``manage.py`` (see :func:`pytest_runtest_setup`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from .support import Server, run_server, servers
from .support.faults import PrivateRedis
from .support.inprocess import configure

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
        "markers",
        "fast: the fast tier (./runtests.sh --fast): no service, no server process, no "
        "manage.py; under a minute",
    )
    configure()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """While a test of the fast tier runs, starting a server process or manage.py raises.

    From before its fixtures are set up (a module's or the session's server
    fixture, started for it, raises too) until after they are torn down.
    """
    if item.get_closest_marker("fast") is not None:
        servers.forbid_servers(item.nodeid)
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test of the fast tier may not use a server either, even one started before it."""
    if item.get_closest_marker("fast") is not None:
        funcargs = getattr(item, "funcargs", {})
        used = [name for name, value in funcargs.items() if isinstance(value, Server)]
        if used:
            raise servers.ServerForbidden(
                f"{item.nodeid} is marked fast but uses the server process of {used}: the fast "
                "tier starts no server. Test the view in-process with "
                "djws.test.WebSocketClient, or drop the test's fast mark."
            )
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """Servers may start again once the test and its fixtures are torn down."""
    try:
        return (yield)
    finally:
        servers.forbid_servers(None)


@pytest.fixture(scope="session", autouse=True)
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SQLite database file shared by every server and command of the session.

    Migrated the first time a server or command of the test project needs it
    (:func:`tests.support.servers.project_env`): never in a run of the fast tier.
    """
    path = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    os.environ["DJWS_TEST_SQLITE"] = path
    return path


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One server for every test that only needs the default configuration."""
    with run_server() as server:
        yield server


@pytest.fixture
def ws_client() -> Any:
    """djws's test client: the test project's views served in this process (the fast tier)."""
    from djws.test import WebSocketClient

    return WebSocketClient()


@pytest.fixture
def ws_client_seeing_errors() -> Any:
    """The same, that lets a view's exception become what a client sees (1011, a 500)."""
    from djws.test import WebSocketClient

    return WebSocketClient(raise_request_exception=False)


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
