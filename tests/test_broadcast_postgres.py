"""Broadcast over the real PostgreSQL (LISTEN/NOTIFY): two servers, one with a
URL and one reusing a DATABASES alias, a management command, messages past the
8000-byte NOTIFY limit, presence, and a clear error when PostgreSQL is unreachable."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from .support import (
    PG_URL,
    Server,
    ask_json,
    join,
    manage,
    start_server,
    unique_prefix,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def prefix() -> str:
    return unique_prefix()


def pg_env(prefix: str, url: str = PG_URL) -> dict[str, str]:
    env = {"DJWS_TEST_BROADCAST_URL": url, "DJWS_TEST_BROADCAST_PREFIX": prefix}
    if url.startswith("database://"):
        env["DJWS_TEST_DATABASE"] = "psycopg"
    return env


@pytest.fixture(scope="module")
def servers(prefix: str) -> Iterator[tuple[Server, Server]]:
    """Two servers on one database: ``postgresql://...`` and ``database://default``."""
    first = start_server(env=pg_env(prefix))
    try:
        second = start_server(env=pg_env(prefix, "database://default"))
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_management_command_reaches_sockets_on_two_servers(
    servers: tuple[Server, Server], prefix: str
) -> None:
    one, two = servers
    with join(one, "p-cmd") as a, join(two, "p-cmd") as b:
        result = manage("websocket_publish", "p-cmd", "hello from a command", env=pg_env(prefix))
        assert (result.returncode, result.stderr) == (0, "")
        result = manage("websocket_publish", "p-cmd", '{"n": 1}', "--json", env=pg_env(prefix))
        assert (result.returncode, result.stderr) == (0, "")
        for ws in (a, b):
            assert ws.recv(timeout=10) == "hello from a command"
            assert json.loads(ws.recv(timeout=10)) == {"n": 1}


def test_messages_past_the_notify_limit_arrive_whole_and_in_order(
    servers: tuple[Server, Server],
) -> None:
    one, two = servers
    with (
        join(two, "p-large", max_queue=None) as member,
        join(one, "p-large", max_queue=None) as publisher,
    ):
        publisher.send("publish small")
        publisher.send("publish-many 1 200000")  # 200 kB of text: through the table
        publisher.send("publish-pattern 100")  # binary, not UTF-8: base64, inline
        publisher.send("publish-pattern 70000")  # binary, too large inline
        publisher.send("publish-bytes \x00nul")  # UTF-8 but with NUL: base64
        publisher.send("publish last")
        assert member.recv(timeout=10) == "small"
        assert member.recv(timeout=10) == "000000".ljust(200000, ".")
        assert member.recv(timeout=10) == bytes(n % 256 for n in range(100))
        assert member.recv(timeout=10) == bytes(n % 256 for n in range(70000))
        assert member.recv(timeout=10) == b"\x00nul"
        assert member.recv(timeout=10) == "last"


def test_many_messages_keep_publish_order(servers: tuple[Server, Server]) -> None:
    one, two = servers
    with join(two, "p-order") as member, join(one, "p-order", max_queue=None) as publisher:
        publisher.send("publish-many 200 20")
        assert [member.recv(timeout=10)[:6] for _ in range(200)] == [f"{n:06d}" for n in range(200)]


def test_presence_spans_both_servers(servers: tuple[Server, Server]) -> None:
    one, two = servers
    with join(one, "p-who") as a, join(two, "p-who"), join(two, "p-who"):
        entries: list[dict[str, Any]] = ask_json(a, "presence")["presence"]
        assert len(entries) == 3
        assert len({e["worker"] for e in entries}) == 2
        assert sorted(Counter(e["worker"] for e in entries).values()) == [1, 2]


def test_publishing_to_an_unreachable_database_fails_clearly(prefix: str) -> None:
    url = "postgresql://postgres@127.0.0.1:1/test"
    result = manage("websocket_publish", "p-nowhere", "lost?", env=pg_env(prefix, url))
    assert result.returncode == 1
    assert (
        "CommandError: could not publish to group 'p-nowhere': "
        "PostgreSQL at postgresql://postgres@127.0.0.1:1/test failed: "
    ) in result.stderr


def test_delivery_resumes_after_the_listening_connection_is_killed(
    servers: tuple[Server, Server], prefix: str
) -> None:
    from djws.broadcast.backends.postgres_driver import Driver

    one, two = servers
    driver = Driver()
    admin = driver.connect(PG_URL)
    try:
        with join(two, "p-resume") as member, join(one, "p-resume", max_queue=None) as publisher:
            publisher.send("publish before")
            assert member.recv(timeout=10) == "before"
            killed = driver.execute(
                admin,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [f"djws:{prefix}:listen"],
            )
            assert killed == [(True,), (True,)]  # one listener per server
            for n in range(10):  # at once: the listeners may not be back yet
                publisher.send(f"publish probe {n}")
            # Nothing lost: the listener catches up from the history when it is back.
            assert [member.recv(timeout=15) for _ in range(10)] == [f"probe {n}" for n in range(10)]
    finally:
        driver.close(admin)
