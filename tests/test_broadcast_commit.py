"""Publishing inside transaction.atomic(): only what commits is delivered, once.

Real servers on every backend (memory://, local://, Redis, database://default);
a WebSocket view of the test project writes a Note and publishes inside
``atomic()``, then commits, rolls back, or rolls back a savepoint. Members get
exactly what committed, in order. With ``database://default`` the message's row
commits or rolls back with the Note (both read back from PostgreSQL), and two
transactions that commit in the other order than they published are numbered
in commit order, gapless, without one waiting for the other. With Redis, a
commit during an outage of the test's own Redis is delivered once it is back,
logged and counted; past the outbox's bound a message is dropped, logged and
counted.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from websockets.sync.client import ClientConnection

from .support import Server, envelope, join, manage, member, start_server, unique_prefix
from .support.faults import PrivateRedis

REPLIES = ("committed", "rolled back", "holding", "error ", "unknown command")


class Talk:
    """A connection to a test view: its replies to commands apart from the group's messages."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[str] = []

    def send(self, command: str) -> None:
        self.ws.send(command)

    def reply(self) -> str:
        """The view's next reply; group messages meanwhile are kept for :meth:`until`."""
        while True:
            message = self.ws.recv(timeout=10)
            if message.startswith(REPLIES):
                return message
            self.messages.append(message)

    def until(self, marker: str, timeout: float = 10) -> list[str]:
        """The group's messages up to ``marker`` (excluded)."""
        while marker not in self.messages:
            message = self.ws.recv(timeout=timeout)
            if not message.startswith(REPLIES):
                self.messages.append(message)
        received = self.messages[: self.messages.index(marker)]
        del self.messages[: len(received) + 1]
        return received


def pg_query(sql: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test") as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def pg_migrated() -> None:
    result = manage("migrate", "--noinput", "-v0", env={"DJWS_TEST_DATABASE": "psycopg"})
    assert result.returncode == 0, result.stderr


BACKENDS = [
    pytest.param("memory://", id="memory"),
    pytest.param("local://", id="local"),
    pytest.param("redis://127.0.0.1:6379/0", marks=pytest.mark.redis, id="redis"),
    pytest.param("database://default", marks=pytest.mark.postgres, id="database"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    url: str = request.param
    env = {"DJWS_TEST_BROADCAST_URL": url, "DJWS_TEST_BROADCAST_PREFIX": unique_prefix()}
    if url.startswith("database://"):
        request.getfixturevalue("pg_migrated")
        env["DJWS_TEST_DATABASE"] = "psycopg"
    server = start_server(env=env)
    server.env = env  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


def test_only_what_commits_is_delivered_once_and_in_order(server: Server) -> None:
    tag = uuid.uuid4().hex[:8]
    group = f"c-{tag}"
    with join(server, group) as ws:
        talk = Talk(ws)
        replies = []
        for command in (
            f"tx-rollback gone-{tag}",
            f"tx-commit sent-{tag}",
            f"tx-savepoint kept-{tag} dropped-{tag}",
        ):
            talk.send(command)
            replies.append(talk.reply())
        talk.send(f"publish end-{tag}")
        assert talk.until(f"end-{tag}") == [f"sent-{tag}", f"kept-{tag}"]
        # publish() in atomic() returned None: there was no position yet.
        assert replies == ["rolled back", "committed None", "committed"]
    if server.env["DJWS_TEST_BROADCAST_URL"] != "database://default":  # type: ignore[attr-defined]
        return
    # The message rows committed, or rolled back, with the notes.
    notes = pg_query("SELECT text FROM testproject_note WHERE text LIKE %s", f"%-{tag}")
    assert sorted(text for (text,) in notes) == [f"kept-{tag}", f"sent-{tag}"]
    prefix = server.env["DJWS_TEST_BROADCAST_PREFIX"]  # type: ignore[attr-defined]
    rows = pg_query(
        'SELECT "offset", data FROM djws_broadcast_history WHERE grp = %s ORDER BY "offset"',
        f"{prefix}:{group}",
    )
    assert rows == [
        (1, b"tsent-" + tag.encode()),
        (2, b"tkept-" + tag.encode()),
        (3, b"tend-" + tag.encode()),
    ]
    staged = "SELECT count(*) FROM djws_broadcast_outbox WHERE grp = %s"
    assert pg_query(staged, f"{prefix}:{group}") == [(0,)]


def test_only_the_transaction_of_the_database_named_by_using_is_waited_for() -> None:
    server = start_server(env={"DJWS_TEST_SECOND_DATABASE": "1"})
    try:
        with join(server, "c-using") as ws:
            talk = Talk(ws)
            talk.send("tx-other on-commit")  # atomic(using="other") is open in the view
            assert talk.reply() == "holding"
            # memory:// delivers as it publishes: what came before the reply was sent at
            # once -- the publish without using= ("default", not in a transaction) only.
            assert talk.messages == ["at once on-commit"]
            talk.messages.clear()
            talk.send("go")
            assert talk.reply() == "committed"
            assert talk.until("on-commit") == []
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "isolation",
    [
        pytest.param("read committed", id="in-the-transaction"),
        # Numbering at commit would fail the first commit there: sent after the commit.
        pytest.param("repeatable read", id="after-the-commit"),
    ],
)
def test_transactions_are_numbered_in_commit_order_without_waiting_for_each_other(
    pg_migrated: None, isolation: str
) -> None:
    """A publishes first and commits last; B, meanwhile, commits without waiting for A."""
    env = {
        "DJWS_TEST_BROADCAST_URL": "database://default",
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
        "DJWS_TEST_DATABASE": "psycopg",
        "DJWS_TEST_PG_ISOLATION": isolation,
    }
    server = start_server(env=env)
    try:
        with (
            member(server, "c-order") as observer,
            join(server, "c-order") as first,
            join(server, "c-order") as second,
        ):
            assert envelope(observer)["djws"] == "joined"
            assert observer.recv(timeout=10) == "joined"
            observer.send("publish opening")  # the group's stream exists: it has an epoch
            start = envelope(observer)["position"]
            epoch, _, offset = start.partition(":")
            first_talk, second_talk = Talk(first), Talk(second)
            first_talk.send("tx-hold staged-first")
            assert first_talk.reply() == "holding"
            second_talk.send("tx-commit staged-second")  # would time out if it waited for A
            second_reply = second_talk.reply()
            assert envelope(observer) == {
                "djws": "message",
                "group": "c-order",
                "position": f"{epoch}:{int(offset) + 1}",
                "kind": "text",
                "data": "staged-second",
            }
            assert second_reply == "committed None"
            first_talk.send("go")
            assert first_talk.reply() == "committed"
            message = envelope(observer)
            assert (message["position"], message["data"]) == (
                f"{epoch}:{int(offset) + 2}",
                "staged-first",
            )
            # The history has no gap, and resuming from the first replays the second.
            history = json.loads((observer.send(f"history {start}"), observer.recv(timeout=10))[1])
            assert history["complete"] is True
            assert history["messages"] == [
                [f"{epoch}:{int(offset) + 1}", "staged-second"],
                [f"{epoch}:{int(offset) + 2}", "staged-first"],
            ]
        with member(server, "c-order", since={"c-order": f"{epoch}:{int(offset) + 1}"}) as late:
            assert envelope(late)["data"] == "staged-first"
            joined = envelope(late)
            assert (joined["djws"], joined["recovered"]) == ("joined", True)
    finally:
        server.stop()


def scrape_outbox(server: Server) -> dict[str, float]:
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        outcome: float(value)
        for outcome, value in re.findall(
            r'^djws_broadcast_outbox_total\{outcome="(\w+)"\} (\S+)$', text, re.MULTILINE
        )
    }


@contextlib.contextmanager
def redis_server(private_redis: PrivateRedis, **env: str) -> Iterator[Server]:
    server = start_server(
        "--metrics",
        "/metrics",
        env={
            "DJWS_TEST_BROADCAST_URL": private_redis.url,
            "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
            "WEBSOCKET_BROADCAST_TIMEOUT": "1.0",
            **env,
        },
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.redis
def test_a_commit_during_a_redis_outage_is_delivered_once_redis_is_back(
    private_redis: PrivateRedis,
) -> None:
    # Room for two small messages: the large one after them does not fit.
    with redis_server(private_redis, WEBSOCKET_BROADCAST_OUTBOX_LIMIT="400") as server:
        with join(server, "c-outage") as ws:
            talk = Talk(ws)
            private_redis.kill()
            talk.send("tx-commit during-the-outage")
            assert talk.reply() == "committed None"  # the data committed; the message waits
            server.wait_for_log(
                "Could not publish to group 'c-outage' after its transaction committed ("
            )
            talk.send("tx-commit kept-behind-it")
            assert talk.reply() == "committed None"
            talk.send("tx-commit " + "too-large-for-the-outbox-" * 12)
            assert talk.reply() == "committed None"
            server.wait_for_log(
                "Broadcast outbox full (2 messages, 233 of 400 bytes): a committed message to "
                "group 'c-outage' was dropped and will not be delivered"
            )
            private_redis.start()  # empty: a new epoch
            # Published at once, but after what the outbox kept: it goes first, in order.
            talk.send("publish after")
            assert talk.until("after", timeout=15) == ["during-the-outage", "kept-behind-it"]
            talk.send("publish last")
            assert talk.until("last") == []  # once
        server.wait_for_log("Broadcast outbox: 2 committed messages were published late")
        deadline = time.monotonic() + 10
        while (counts := scrape_outbox(server)) != {"kept": 2, "delivered": 2, "dropped": 1}:
            assert time.monotonic() < deadline, counts
            time.sleep(0.2)


@pytest.mark.redis
def test_what_the_outbox_keeps_at_exit_is_reported_lost(private_redis: PrivateRedis) -> None:
    with redis_server(private_redis) as server:
        with join(server, "c-exit") as ws:
            talk = Talk(ws)
            private_redis.kill()
            talk.send("tx-commit doomed")
            assert talk.reply() == "committed None"
            server.wait_for_log("Could not publish to group 'c-exit' after its transaction")
        server.stop()
        assert (
            "1 committed broadcast messages were never published and are lost with this "
            "process (groups: 'c-exit'): could not publish to group 'c-exit': Redis at "
        ) in server.log()
