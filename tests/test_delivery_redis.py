"""Delivery through Redis outages: nothing that publish() reported is lost.

Two workers, subscribers on both, a publisher in another process sending 20
numbered messages a second; the test's own Redis is killed (and comes back
empty: a new epoch) or stopped and resumed in the middle. Every subscriber must
receive every message whose publish() returned a position, exactly once and in
order; messages whose publish() failed may be missing (the publisher was told).
A Redis that dies takes with it what it stored and had not yet sent: the
members are told (a reset), as they are of any loss.
"""

from __future__ import annotations

import json
import time

import pytest
import redis
from websockets.sync.client import connect

from djws.broadcast.backends.redis import RedisBackend
from djws.broadcast.backends.redis_scripts import PUBLISH_SCRIPT
from djws.broadcast.message import encode
from djws.broadcast.position import new_epoch

from .support import closed_with, start_server, unique_prefix
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
        # ?djws=1: positions and resets in envelopes.
        with subscribers_on_both_workers(server, "outage", subscribers, "?djws=1") as members:
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
            stored, epochs = publisher.stored, list(publisher.epochs.values())
            assert len(stored) >= count - 70, publisher.lines  # most got through
            assert publisher.failed, "the outage was not noticed by the publisher"
            assert len(epochs) == (2 if outage == "kill" else 1), publisher.lines
            for ws in members:
                resets: list[int] = []
                received = collect(ws, stored, count, timeout=20, resets=resets)
                assert received == sorted(set(received)), "out of order or duplicated"
                lost = sorted(set(stored) - set(received))
                if outage == "stop":
                    assert (lost, resets) == ([], []), (publisher.lines, received)
                    continue
                # Redis died with the old stream: the members are told, once, before
                # the new one. Only the last message stored before the kill may have
                # died with Redis before it was sent to the workers.
                old, _ = epochs
                assert resets == [len([n for n in received if n in old])], (resets, received)
                assert set(lost) <= {old[-1]}, (
                    f"lost {lost}: published {publisher.lines}, received {received}"
                )
    finally:
        server.stop()
    if outage == "kill":
        assert "Broadcast backend" in server.log()
        assert "the broadcast backend lost its stream" in server.log()


def test_a_message_stored_but_not_yet_sent_when_redis_died_is_signalled(
    private_redis: PrivateRedis,
) -> None:
    """Redis acknowledged a publish, then died before sending it to the workers:
    nobody can deliver it, so every kind of member is told."""
    prefix = unique_prefix()
    env = {"DJWS_TEST_BROADCAST_URL": private_redis.url, "DJWS_TEST_BROADCAST_PREFIX": prefix}
    server = start_server(env=env)
    try:
        with (
            connect(f"{server.url}/broadcast/member/died/", open_timeout=10) as plain,
            connect(f"{server.url}/broadcast/member/died/?djws=1", open_timeout=10) as enveloped,
            connect(f"{server.url}/broadcast/relay/died/", open_timeout=10) as relay,
        ):
            assert json.loads(enveloped.recv(timeout=10))["djws"] == "joined"
            for ws in (plain, enveloped, relay):
                assert ws.recv(timeout=10) == "joined"
            backend = RedisBackend(private_redis.url, prefix=prefix, presence_ttl=30)
            first = backend.publish("died", encode("first"))
            assert plain.recv(timeout=10) == "first"
            assert json.loads(enveloped.recv(timeout=10))["position"] == str(first)
            assert relay.recv(timeout=10) == "relayed died: FIRST"
            # Stored and acknowledged, sent to a channel nobody listens to: what
            # the workers see when Redis dies between its reply and its PUBLISH.
            keys = [*backend._keys("died"), b"nobody"]
            args = [new_epoch(), encode("second"), 1000, 300_000, 86_400_000, "PUBLISH"]
            epoch, offset = redis.Redis.from_url(private_redis.url).eval(
                PUBLISH_SCRIPT, 3, *keys, *args
            )
            assert (epoch.decode(), offset) == (first.epoch, 2)
            backend.close()
            private_redis.kill()
            private_redis.start()
            backend = RedisBackend(private_redis.url, prefix=prefix, presence_ttl=30)
            third = backend.publish("died", encode("third"))
            backend.close()
            assert (third.epoch != first.epoch, third.offset) == (True, 1)
            assert closed_with(plain, timeout=15) == (
                1012,
                "messages of group 'died' were lost: reconnect and reload",
            )
            assert json.loads(enveloped.recv(timeout=15)) == {
                "djws": "reset",
                "group": "died",
                "position": f"{third.epoch}:1",
            }
            assert json.loads(enveloped.recv(timeout=10))["data"] == "third"
            assert relay.recv(timeout=10) == f"reset died {third.epoch}:1"
            assert relay.recv(timeout=10) == "relayed died: THIRD"
    finally:
        server.stop()
    assert "Group 'died': the broadcast backend lost its stream" in server.log()


def test_redis_killed_and_back_empty_loses_nothing_that_was_reported_stored(
    private_redis: PrivateRedis,
) -> None:
    run_outage(private_redis, "kill")


def test_redis_stopped_and_resumed_loses_nothing_that_was_reported_stored(
    private_redis: PrivateRedis,
) -> None:
    run_outage(private_redis, "stop")


def test_a_group_whose_epoch_expired_tells_its_members_at_its_next_message(
    private_redis: PrivateRedis,
) -> None:
    """A group quiet for longer than its epoch is kept loses its numbering, as in a
    restart: its next message starts a new epoch, and the members are told first."""
    prefix = unique_prefix()
    env = {"DJWS_TEST_BROADCAST_URL": private_redis.url, "DJWS_TEST_BROADCAST_PREFIX": prefix}
    server = start_server(env=env)
    try:
        with connect(f"{server.url}/broadcast/member/quiet/?djws=1", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["djws"] == "joined"
            assert ws.recv(timeout=10) == "joined"
            backend = RedisBackend(private_redis.url, prefix=prefix, presence_ttl=30)
            first = backend.publish("quiet", encode("first"))
            assert json.loads(ws.recv(timeout=10))["position"] == str(first)
            # What the meta key's expiry does after a day of silence.
            meta = backend._keys("quiet")[0]
            assert redis.Redis.from_url(private_redis.url).delete(meta) == 1
            second = backend.publish("quiet", encode("second"))
            backend.close()
            assert (second.epoch != first.epoch, second.offset) == (True, 1)
            assert json.loads(ws.recv(timeout=10)) == {
                "djws": "reset",
                "group": "quiet",
                "position": f"{second.epoch}:1",
            }
            assert json.loads(ws.recv(timeout=10))["data"] == "second"
    finally:
        server.stop()


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
