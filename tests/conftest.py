"""Shared fixtures: a migrated test database and real servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .faults import PrivateRedis
from .support import Server, manage, run_server

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
