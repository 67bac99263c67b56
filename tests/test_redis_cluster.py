"""Redis Cluster: sharded pub/sub, through a primary's failover and a reshard.

A cluster of three primaries with a replica each, all the test's own
redis-server processes. A group's stream, counter and channel share a hash
tag, so they live on one node, and its messages are published there with
SPUBLISH (they are not copied to every node). Two workers, 200 members over
both, a publisher at 20 messages a second; meanwhile the primary that owns the
group is killed (its replica takes over), or the group's slot is moved to
another primary. Every message whose publish() returned reaches every member,
once and in order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from djws.broadcast.backends.redis import RedisBackend
from djws.broadcast.message import encode

from .support import manage, start_server, unique_prefix, wait_for
from .support.faults import collect, start_publisher, subscribers_on_both_workers
from .support.redis_shapes import REDIS_DOWN, Cluster, Node, documented_acl, serve_one_member

pytestmark = pytest.mark.redis


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of the test's own, to kill a node of or reshard."""
    shape = Cluster(tmp_path)
    try:
        yield shape
    finally:
        shape.stop()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster the module's tests that change nothing of it share."""
    shape = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield shape
    finally:
        shape.stop()


def move_slot(cluster: Cluster, key: str) -> None:
    """Migrate ``key``'s slot, with its keys, to another primary (what a reshard does)."""
    source = cluster.node_of(key)
    slot = source.client().cluster("keyslot", key)
    primaries = {cluster.node_of(f"{{{n}}}") for n in range(200)}
    target = next(node for node in primaries if node is not source)
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)
    target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    while keys := source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source.client().execute_command(
            "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys
        )
    for node in (target, source, *(p for p in primaries if p not in (source, target))):
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    wait_for(lambda: cluster.node_of(key) is target, 20, "the move", ignoring=REDIS_DOWN)


def run_through(cluster: Cluster, fault: str) -> None:
    prefix = unique_prefix()
    env = {
        "DJWS_TEST_BROADCAST_URL": cluster.url,
        "DJWS_TEST_BROADCAST_PREFIX": prefix,
        "WEBSOCKET_BROADCAST_TIMEOUT": "1.0",
    }
    count, group = 160, "sharded"
    key = f"{prefix}:meta:{{{group}}}"
    server = start_server("--workers", "2", env=env)
    try:
        with subscribers_on_both_workers(server, group, 200) as members:
            publisher = start_publisher(group, count, 20.0, env)
            time.sleep(1.5)
            owner = cluster.node_of(key)
            if fault == "failover":
                owner.kill()
                wait_for(
                    lambda: cluster.node_of(key) is not owner,
                    20,
                    "the replica's promotion",
                    ignoring=REDIS_DOWN,
                )
            else:
                move_slot(cluster, key)
            publisher.wait(timeout=60)
            stored = publisher.stored
            if fault == "failover":
                assert publisher.failed, "the failover was not noticed by the publisher"
            assert len(stored) >= count - 80, publisher.lines
            assert stored[-1] == count - 1, "publishing did not follow the cluster"
            for ws in members:
                received = collect(ws, stored, count, timeout=20)
                assert received == sorted(set(received)), "out of order or duplicated"
                assert set(stored) <= set(received), f"lost {sorted(set(stored) - set(received))}"
        # Sharded: the channel lives on its shard only; no other node has subscribers.
        channel = f"{prefix}:group:{{{group}}}"
        owner = cluster.node_of(key)
        for node in cluster.live():
            if node is not owner:
                numsub = node.client().execute_command("PUBSUB", "SHARDNUMSUB", channel)
                assert numsub[1] == 0, node.port
    finally:
        server.stop()


def test_a_cluster_primary_failover_loses_nothing_that_publish_reported(cluster: Cluster) -> None:
    run_through(cluster, "failover")


def test_a_reshard_loses_nothing_that_publish_reported(cluster: Cluster) -> None:
    run_through(cluster, "reshard")


def test_one_node_of_a_cluster_named_by_a_plain_url_is_enough(shared_cluster: Cluster) -> None:
    backend = RedisBackend(
        f"redis://{shared_cluster.nodes[2].address}/0", prefix=unique_prefix(), presence_ttl=30
    )
    try:
        positions = [backend.publish(f"group-{n}", encode("hi")) for n in range(20)]
        assert backend.shape.cluster
        assert [p.offset for p in positions] == [1] * 20  # on every shard: no CROSSSLOT, no MOVED
    finally:
        backend.close()


def test_a_cluster_url_naming_a_single_server_is_refused_by_name(tmp_path: Path) -> None:
    single = Node(tmp_path)
    backend = RedisBackend(f"redis+cluster://{single.address}/", prefix="p", presence_ttl=30)
    try:
        assert backend.check_shape() == (
            f"WEBSOCKET_BROADCAST_URL names a Cluster, but the Redis at {single.address} is "
            "not a Cluster node (cluster_enabled:0): use 'redis://host:port/0' for one "
            "server, 'redis+sentinel://host:port/service' for Sentinel"
        )
    finally:
        backend.close()
        single.kill()


def test_check_deploy_names_a_mismatch_of_shapes(shared_cluster: Cluster, tmp_path: Path) -> None:
    single = Node(tmp_path)
    try:
        url = f"redis+cluster://{single.address}/"
        result = manage("check", "--deploy", env={"DJWS_TEST_BROADCAST_URL": url})
        assert result.returncode == 1
        assert (
            f"?: (djws.E023) WEBSOCKET_BROADCAST_URL names a Cluster, but the Redis at "
            f"{single.address} is not a Cluster node"
        ) in result.stderr
        # Plain `check` does not touch the network.
        assert "djws.E023" not in manage("check", env={"DJWS_TEST_BROADCAST_URL": url}).stderr
    finally:
        single.kill()
    url = f"redis://{shared_cluster.nodes[0].address}/0"
    result = manage("check", "--deploy", env={"DJWS_TEST_BROADCAST_URL": url})
    assert (
        f"?: (djws.W004) WEBSOCKET_BROADCAST_URL '{url}' names one node of a Redis Cluster"
    ) in result.stdout + result.stderr


def test_the_documented_acl_user_works_with_a_cluster(shared_cluster: Cluster) -> None:
    for node in shared_cluster.nodes:
        node.client().execute_command(*documented_acl().split())
    addresses = ",".join(n.address for n in shared_cluster.nodes[:3])
    serve_one_member(f"redis+cluster://djws:change-me@{addresses}/", "djws")
