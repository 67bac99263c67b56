"""Redis behind Sentinel: a failover loses nothing that publish() reported stored.

Three sentinels watch a primary and its replica, all the test's own
redis-server processes. Two workers, 200 members over both, a publisher at 20
messages a second; the primary is killed in the middle. Publishes during the
election fail (PublishError, within WEBSOCKET_BROADCAST_TIMEOUT); afterwards
both the publisher and the workers follow the new primary, and every member
receives every message whose publish() returned, once and in order. The old
primary, restarted empty, takes none of the later writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from djws.broadcast.backends.redis import RedisBackend
from djws.broadcast.message import encode
from djws.broadcast.position import Position

from .support import manage, start_server, unique_prefix, wait_for
from .support.faults import collect, start_publisher, subscribers_on_both_workers
from .support.redis_shapes import REDIS_DOWN, SentinelSet

pytestmark = pytest.mark.redis


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    shape = SentinelSet(tmp_path)
    try:
        yield shape
    finally:
        shape.stop()


def test_a_sentinel_failover_loses_nothing_that_publish_reported(sentinels: SentinelSet) -> None:
    env = {
        "DJWS_TEST_BROADCAST_URL": sentinels.url,
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
        "WEBSOCKET_BROADCAST_TIMEOUT": "1.0",
    }
    count = 160
    old_port = sentinels.master_port()
    server = start_server("--workers", "2", env=env)
    try:
        with subscribers_on_both_workers(server, "failover", 200) as members:
            publisher = start_publisher("failover", count, 20.0, env)
            time.sleep(1.5)
            sentinels.primary.kill()
            wait_for(
                lambda: sentinels.master_port() != old_port, 20, "the failover", ignoring=REDIS_DOWN
            )
            sentinels.primary.start()  # empty, until the sentinels make it a replica
            publisher.wait(timeout=60)
            stored = publisher.stored
            assert publisher.failed, "the election was not noticed by the publisher"
            assert len(stored) >= count - 80, publisher.lines
            epochs = [position.split(":")[0] for _, position in publisher.lines if position]
            # Two epochs: the old primary's and the new one's. A write to the old
            # primary restarted empty would have started a third.
            assert len(set(epochs)) == 2, f"epochs {sorted(set(epochs))}"
            assert stored[-1] == count - 1, "publishing did not follow the new primary"
            for ws in members:
                received = collect(ws, stored, count, timeout=20)
                assert received == sorted(set(received)), "out of order or duplicated"
                assert set(stored) <= set(received), f"lost {sorted(set(stored) - set(received))}"
    finally:
        server.stop()
    assert "Broadcast backend" in server.log()


def test_publish_fails_within_the_timeout_while_there_is_no_primary(
    sentinels: SentinelSet,
) -> None:
    backend = RedisBackend(sentinels.url, prefix=unique_prefix(), presence_ttl=30, timeout=1.0)
    try:
        first = backend.publish("g", encode("before"))
        sentinels.primary.kill()
        started = time.monotonic()
        with pytest.raises(Exception, match="could not publish to group 'g'") as raised:
            backend.publish("g", encode("during"))
        assert type(raised.value).__name__ == "PublishError"
        assert time.monotonic() - started < 3.0
        after: Position = wait_for(
            lambda: _try(backend), 20, "a publish to the new primary", ignoring=REDIS_DOWN
        )
        assert after.epoch != first.epoch
        assert after.offset == 1
        history = backend.read("g", 0)
        assert history.previous == first  # the new epoch says where the old one ended
    finally:
        backend.close()


def _try(backend: RedisBackend, message: str = "after", group: str = "g") -> object:
    from djws.broadcast import PublishError

    try:
        return backend.publish(group, encode(message))
    except PublishError:
        return None


def test_check_deploy_names_a_service_no_sentinel_knows(sentinels: SentinelSet) -> None:
    good = manage("check", "--deploy", env={"DJWS_TEST_BROADCAST_URL": sentinels.url})
    assert "djws.E023" not in good.stderr + good.stdout
    assert "djws.W003" not in good.stderr + good.stdout
    url = sentinels.url.replace(SentinelSet.SERVICE, "nosuch")
    result = manage("check", "--deploy", env={"DJWS_TEST_BROADCAST_URL": url})
    assert result.returncode == 1
    assert (
        "?: (djws.E023) WEBSOCKET_BROADCAST_URL names Sentinel service 'nosuch', "
        "but no sentinel there knows its primary"
    ) in result.stderr


def test_a_coordinated_failover_with_the_old_primary_alive_is_followed(
    sentinels: SentinelSet,
) -> None:
    """SENTINEL FAILOVER: the old primary stays up, as a replica of the new one."""
    prefix = unique_prefix()
    env = {"DJWS_TEST_BROADCAST_URL": sentinels.url, "DJWS_TEST_BROADCAST_PREFIX": prefix}
    backend = RedisBackend(sentinels.url, prefix=prefix, presence_ttl=30, timeout=1.0)
    server = start_server("--workers", "2", env=env)
    try:
        with subscribers_on_both_workers(server, "switch", 20) as members:
            for n in range(5):
                backend.publish("switch", encode(str(n)))
            old_port = sentinels.master_port()
            sentinels.sentinels[0].client().execute_command(
                "SENTINEL", "FAILOVER", SentinelSet.SERVICE
            )
            wait_for(
                lambda: sentinels.master_port() != old_port, 20, "the switch", ignoring=REDIS_DOWN
            )
            for n in range(5, 10):
                wait_for(
                    lambda n=n: _try(backend, str(n), "switch"),
                    20,
                    f"publish {n}",
                    ignoring=REDIS_DOWN,
                )
            for ws in members:
                assert collect(ws, list(range(10)), 10, timeout=15) == list(range(10))
        wait_for(
            lambda: sentinels.primary.client().info("replication")["role"] == "slave",
            20,
            "the old primary to be a replica",
            ignoring=REDIS_DOWN,
        )
    finally:
        server.stop()
        backend.close()
