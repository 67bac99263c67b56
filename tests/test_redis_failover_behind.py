"""A replica promoted while it is behind its primary: a new epoch, never a silent gap.

Redis replicates asynchronously: a primary acknowledges a write before its
replica has it. Here the replica is paused while a large value and then
messages are written, and the messages delivered; then the primary dies and
Sentinel promotes the replica, which lacks them: its counter stands where it
stood. Numbered on, the next messages would
repeat offsets the workers already delivered, and be dropped as seen. The new
primary starts a new epoch instead, which records where its copy of the old one
ended: members get every message, and a client resumes from a position of the
old epoch only if nothing after it was lost.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.sync.client import connect

from djws.broadcast import PublishError
from djws.broadcast.backends.redis import RedisBackend
from djws.broadcast.message import encode
from djws.broadcast.position import Position

from .support import start_server, unique_prefix, wait_for
from .support.faults import collect, subscribers_on_both_workers
from .support.redis_shapes import REDIS_DOWN, Node, SentinelSet

pytestmark = pytest.mark.redis

#: Bytes written to the primary while the replica is paused, before the messages.
FILLER = 48 * 1024 * 1024


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    shape = SentinelSet(tmp_path)
    try:
        yield shape
    finally:
        shape.stop()


def publish(backend: RedisBackend, number: int) -> Position | None:
    try:
        return backend.publish("behind", encode(str(number)))
    except PublishError:
        return None


def resume(url: str, since: Position) -> list[object]:
    """Connect from ``since``; return the envelopes until the one that says where it stands."""
    query = quote(json.dumps({"behind": str(since)}))
    with connect(f"{url}/broadcast/member/behind/?djws=1&djws-since={query}") as ws:
        received: list[object] = []
        while True:
            item = json.loads(ws.recv(timeout=10))
            received.append(item)
            if item["djws"] == "joined":
                return received


def test_a_promoted_replica_that_is_behind_starts_a_new_epoch(sentinels: SentinelSet) -> None:
    prefix = unique_prefix()
    env = {"DJWS_TEST_BROADCAST_URL": sentinels.url, "DJWS_TEST_BROADCAST_PREFIX": prefix}
    backend = RedisBackend(sentinels.url, prefix=prefix, presence_ttl=30, timeout=1.0)
    server = start_server("--workers", "2", env=env)
    try:
        with subscribers_on_both_workers(server, "behind", 20) as members:
            first = [backend.publish("behind", encode(str(n))) for n in range(5)]
            primary, replica = sentinels.primary.client(), sentinels.replica.client()
            wait_for(
                lambda: (
                    replica.info("replication")["slave_repl_offset"]
                    >= primary.info("replication")["master_repl_offset"]
                ),
                20,
                "the replica to hold them",
                ignoring=REDIS_DOWN,
            )
            sentinels.replica.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
            try:
                # More than the kernel's socket buffers hold: what follows it stays in
                # the primary's memory, and dies with it.
                primary.set(f"{prefix}:filler", b"x" * FILLER)
                second = [backend.publish("behind", encode(str(n))) for n in range(5, 10)]
                for ws in members:  # delivered, yet the replica never got them
                    assert collect(ws, list(range(10)), 15, timeout=10) == list(range(10))
                sentinels.primary.kill()
            finally:
                sentinels.replica.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
            wait_for(
                lambda: sentinels.master_port() == sentinels.replica.port,
                20,
                "the failover",
                ignoring=REDIS_DOWN,
            )
            third = [
                wait_for(lambda n=n: publish(backend, n), 20, f"publish {n}", ignoring=REDIS_DOWN)
                for n in range(10, 15)
            ]
            assert [p.offset for p in second] == [6, 7, 8, 9, 10]
            assert [p.offset for p in third] == [1, 2, 3, 4, 5]  # counted again, from 1...
            assert third[0].epoch != first[0].epoch  # ...in a new epoch
            for ws in members:
                assert collect(ws, list(range(10, 15)), 15, timeout=10) == list(range(10, 15))
            # The new epoch follows the replica's copy of the old one, which ended at 5.
            resumed = resume(server.url, first[-1])
            assert [m["data"] for m in resumed[:-1]] == ["10", "11", "12", "13", "14"], resumed
            assert resumed[-1]["recovered"] is True
            # Messages 6-10 of the old epoch are gone: a client that saw them is told.
            told = resume(server.url, second[-1])
            assert told == [
                {
                    "djws": "joined",
                    "group": "behind",
                    "position": str(third[-1]),
                    "recovered": False,
                }
            ]
    finally:
        server.stop()
        backend.close()


def test_publish_waits_for_replicas_and_fails_when_too_few_acknowledge(tmp_path: Path) -> None:
    primary = Node(tmp_path)
    replica = Node(tmp_path, "--replicaof", "127.0.0.1", str(primary.port))
    url = f"redis://127.0.0.1:{primary.port}/0"
    backend = RedisBackend(url, prefix=unique_prefix(), presence_ttl=30, timeout=1.0, replicas=1)
    try:
        wait_for(lambda: publish(backend, 0), 20, "the replica's sync", ignoring=REDIS_DOWN)
        stored = backend.publish("behind", encode("1"))
        assert replica.client().xlen(backend._keys("behind")[1]) >= 1  # there when it returned
        replica.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        try:
            started = time.monotonic()
            with pytest.raises(PublishError) as raised:
                backend.publish("behind", encode("2"))
            assert time.monotonic() - started < 1.5  # within WEBSOCKET_BROADCAST_TIMEOUT
        finally:
            replica.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        assert str(raised.value) == (
            f"could not publish to group 'behind': message {stored.epoch}:{stored.offset + 1} "
            "is on the Redis primary but only 0 of WEBSOCKET_BROADCAST_REPLICAS=1 replicas "
            "acknowledged it within 0.8 s, so a failover may lose it (it may also be "
            "delivered: a retry can deliver it twice)"
        )
    finally:
        backend.close()
        replica.kill()
        primary.kill()
