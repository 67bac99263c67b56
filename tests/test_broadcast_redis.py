"""Broadcast over the real Redis: two servers, a management command, users and
sessions, presence after a SIGKILL, and Redis stopped and restarted mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .support import (
    Server,
    ask_json,
    closed_with,
    identity,
    join,
    login,
    manage,
    run_server,
    start_server,
    unique_prefix,
    wait_for,
)
from .support.faults import PrivateRedis

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_env(prefix: str, **extra: str) -> dict[str, str]:
    return {"DJWS_TEST_BROADCAST_URL": REDIS_URL, "DJWS_TEST_BROADCAST_PREFIX": prefix, **extra}


def redis_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def redis_up() -> bool:
    return redis_cli("ping").stdout.strip() == "PONG"


@pytest.fixture(scope="module")
def prefix() -> str:
    if not redis_up():
        pytest.fail("the Redis server at 127.0.0.1:6379 is not running")
    return unique_prefix()


@pytest.fixture(scope="module")
def servers(prefix: str) -> Iterator[tuple[Server, Server]]:
    """Two separate runwebsocket servers sharing Redis (and the SQLite sessions)."""
    first = start_server("--http", env=redis_env(prefix))
    try:
        second = start_server("--http", env=redis_env(prefix))
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def publish_command(prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    return manage("websocket_publish", *args, env=redis_env(prefix))


def test_a_management_command_reaches_sockets_on_two_servers(
    servers: tuple[Server, Server], prefix: str
) -> None:
    one, two = servers
    with join(one, "r-cmd") as a, join(one, "r-cmd") as b, join(two, "r-cmd") as c:
        result = publish_command(prefix, "r-cmd", "hello from a command")
        assert (result.returncode, result.stderr) == (0, "")
        result = publish_command(prefix, "r-cmd", '{"n": [1, "two"]}', "--json")
        assert (result.returncode, result.stderr) == (0, "")
        for ws in (a, b, c):
            assert ws.recv(timeout=10) == "hello from a command"
            assert json.loads(ws.recv(timeout=10)) == {"n": [1, "two"]}


def test_messages_cross_servers_in_publish_order(servers: tuple[Server, Server]) -> None:
    one, two = servers
    with join(two, "r-order") as member, join(one, "r-order", max_queue=None) as publisher:
        publisher.send("publish-many 300 40")
        assert [member.recv(timeout=10)[:6] for _ in range(300)] == [f"{n:06d}" for n in range(300)]
        publisher.send("publish-bytes \x00binary")
        publisher.send("publish-pattern 300")
        assert member.recv(timeout=10) == b"\x00binary"
        assert member.recv(timeout=10) == bytes(n % 256 for n in range(300))


def test_user_and_session_sends_reach_exactly_their_sockets_on_both_servers(
    servers: tuple[Server, Server], prefix: str
) -> None:
    one, two = servers
    alice_1, alice_2, bob = login(one, "r-alice"), login(two, "r-alice"), login(one, "r-bob")
    with (
        identity(one, alice_1) as (a1, who_a1),
        identity(two, alice_2) as (a2, who_a2),
        identity(one, bob) as (b, who_b),
        identity(two) as (anon, _),
    ):
        assert who_a1["user"] == who_a2["user"] != who_b["user"]
        for ws in (a1, a2, b, anon):
            ws.send("join identity")
            assert ws.recv(timeout=10) == "joined identity"
        result = publish_command(prefix, "--user", str(who_a1["user"]), "for alice")
        assert (result.returncode, result.stderr) == (0, "")
        result = publish_command(prefix, "--session", alice_2, "for alice's second session")
        assert (result.returncode, result.stderr) == (0, "")
        anon.send("publish fence")  # to all four, after the others
        assert [a1.recv(timeout=10) for _ in range(2)] == ["for alice", "fence"]
        assert [a2.recv(timeout=10) for _ in range(3)] == [
            "for alice",
            "for alice's second session",
            "fence",
        ]
        assert b.recv(timeout=10) == "fence"
        assert anon.recv(timeout=10) == "fence"


def presence_of(ws: Any, group: str) -> list[dict[str, Any]]:
    return ask_json(ws, f"presence {group}")["presence"]


def test_joins_do_not_wait_for_the_listener_to_rewrite_presence(prefix: str) -> None:
    """A listener that connects rewrites its worker's presence entries (made to take
    3 s here): the subscriptions joins wait for are confirmed meanwhile."""
    env = redis_env(f"{prefix}-slow", DJWS_TEST_SLOW_PRESENCE="3")
    with run_server(env=env) as server:
        started = time.monotonic()
        with join(server, "first"):
            took = time.monotonic() - started
        assert took < 2, f"the first join took {took:.2f} s"
        assert "has not confirmed the subscription" not in server.log()


def test_presence_spans_servers_and_forgets_a_killed_one(prefix: str) -> None:
    env = redis_env(f"{prefix}-kill", DJWS_TEST_BROADCAST_PRESENCE_TTL="1.5")
    survivor = start_server(env=env)
    victim = start_server(env=env)
    try:
        with join(survivor, "r-who") as a, join(survivor, "r-who") as b, join(victim, "r-who"):
            entries = presence_of(a, "r-who")
            assert len(entries) == 3
            assert len({e["worker"] for e in entries}) == 2
            assert [e["user"] for e in entries] == [None, None, None]
            os.killpg(victim.process.pid, signal.SIGKILL)  # arbiter and worker: no goodbye
            victim.process.wait(timeout=10)
            killed_at = time.monotonic()
            wait_for(lambda: len(presence_of(a, "r-who")) == 2, 10, "the killed server stayed")
            assert time.monotonic() - killed_at < 6
            survivors = presence_of(a, "r-who")
            assert {e["worker"] for e in survivors} < {e["worker"] for e in entries}
            b.close()
            wait_for(lambda: len(presence_of(a, "r-who")) == 1, 10, "a closed socket stayed")
    finally:
        victim.stop()
        survivor.stop()


def test_delivery_resumes_after_redis_restarts_and_outage_publishes_fail(
    private_redis: PrivateRedis,
) -> None:
    """Redis is killed and comes back empty: publishes fail meanwhile, and every one
    that succeeds after it is delivered, in order, with no probing for a resumption.
    What Redis stored last may have died with it: members are told (a reset; a
    plain member is closed)."""
    prefix = unique_prefix()
    env = redis_env(prefix, DJWS_TEST_BROADCAST_URL=private_redis.url)
    with (
        run_server("--http", env=env) as one,
        run_server("--http", env=env) as two,
        join(two, "r-restart", relay=True) as member,
        join(one, "r-restart", max_queue=None) as publisher,
        join(one, "r-query") as query,
    ):
        publisher.send("publish before")
        assert member.recv(timeout=10) == "relayed r-restart: BEFORE"
        assert publisher.recv(timeout=10) == "before"
        private_redis.kill()
        publisher.send("publish during")
        assert publisher.recv(timeout=10).startswith(
            "error PublishError: could not publish to group 'r-restart': "
            f"Redis at {private_redis.url} failed: "
        )
        result = manage("websocket_publish", "r-restart", "from a command", env=env)
        assert result.returncode == 1
        assert (
            "CommandError: could not publish to group 'r-restart': "
            f"Redis at {private_redis.url} failed: "
        ) in result.stderr
        private_redis.start()  # empty: a new epoch
        for n in range(10):  # at once: the servers may not have resubscribed yet
            query.send(f"publish-position-to r-restart probe {n}")
        positions = [query.recv(timeout=10).removeprefix("position ") for _ in range(10)]
        epoch = positions[0].partition(":")[0]
        assert positions == [f"{epoch}:{n}" for n in range(1, 11)]
        assert member.recv(timeout=10) == f"reset r-restart {epoch}:1"
        received = [member.recv(timeout=10) for _ in range(10)]
        assert received == [f"relayed r-restart: PROBE {n}" for n in range(10)]
        assert closed_with(publisher, timeout=10) == (
            1012,
            "messages of group 'r-restart' were lost: reconnect and reload",
        )
        # Redis lost everything: both servers wrote their presence entries again.
        wait_for(
            lambda: (
                (len(presence_of(query, "r-restart")), len(presence_of(query, "r-query"))) == (1, 1)
            ),
            10,
            "presence was not restored",
        )
