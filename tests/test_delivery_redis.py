"""Delivery through Redis outages: nothing that publish() reported is lost.

Two workers, subscribers on both, a publisher in another process sending 20
numbered messages a second; the test's own Redis is killed (and comes back
empty: a new epoch) or stopped and resumed in the middle. Every subscriber must
receive every message whose publish() returned a position, exactly once and in
order; messages whose publish() failed may be missing (the publisher was told).
"""

from __future__ import annotations

import time

import pytest

from djws.broadcast.backends.redis import RedisBackend
from djws.broadcast.message import encode

from .support import start_server, unique_prefix
from .support.faults import (
    CONT,
    STOP,
    PrivateRedis,
    collect,
    start_publisher,
    subscribers_on_both_workers,
)

pytestmark = pytest.mark.redis


def run_outage(
    private_redis: PrivateRedis, outage: str, subscribers: int = 40, count: int = 120
) -> None:
    env = {
        "DJWS_TEST_BROADCAST_URL": private_redis.url,
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
        # Shorter than the 3 s outage: publishes during it fail, and say so.
        "WEBSOCKET_BROADCAST_TIMEOUT": "1.0",
    }
    server = start_server("--workers", "2", env=env)
    try:
        with subscribers_on_both_workers(server, "outage", subscribers) as members:
            publisher = start_publisher("outage", count, 20.0, env)
            time.sleep(1.5)
            if outage == "kill":
                private_redis.kill()
                time.sleep(3)
                private_redis.start()  # empty: a new epoch
            else:
                private_redis.signal(STOP)
                time.sleep(3)
                private_redis.signal(CONT)
            publisher.wait(timeout=60)
            stored = publisher.stored
            assert len(stored) >= count - 70, publisher.lines  # most got through
            assert publisher.failed, "the outage was not noticed by the publisher"
            for ws in members:
                received = collect(ws, stored, count, timeout=20)
                assert received == sorted(set(received)), "out of order or duplicated"
                assert set(stored) <= set(received), f"lost {sorted(set(stored) - set(received))}"
    finally:
        server.stop()
    if outage == "kill":
        assert "Broadcast backend" in server.log()


def test_redis_killed_and_back_empty_loses_nothing_that_was_reported_stored(
    private_redis: PrivateRedis,
) -> None:
    run_outage(private_redis, "kill")


def test_redis_stopped_and_resumed_loses_nothing_that_was_reported_stored(
    private_redis: PrivateRedis,
) -> None:
    run_outage(private_redis, "stop")


def test_what_was_published_before_workers_resubscribed_arrives_with_no_later_traffic(
    private_redis: PrivateRedis,
) -> None:
    """Nothing comes after the burst to reveal a gap: the workers' catch-up on
    resubscribing is what delivers it."""
    prefix = unique_prefix()
    env = {"DJWS_TEST_BROADCAST_URL": private_redis.url, "DJWS_TEST_BROADCAST_PREFIX": prefix}
    server = start_server("--workers", "2", env=env)
    try:
        with subscribers_on_both_workers(server, "window", 10) as members:
            private_redis.kill()
            time.sleep(1.5)  # the workers' reconnection backoff grows meanwhile
            private_redis.start()
            # Published at once, from here: before the workers are back.
            backend = RedisBackend(private_redis.url, prefix=prefix, presence_ttl=30)
            positions = [backend.publish("window", encode(str(n))) for n in range(5)]
            backend.close()
            assert [p.offset for p in positions] == [1, 2, 3, 4, 5]
            for ws in members:
                assert collect(ws, [0, 1, 2, 3, 4], 5, timeout=15) == [0, 1, 2, 3, 4]
    finally:
        server.stop()
