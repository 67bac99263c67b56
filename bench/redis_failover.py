"""What each Redis shape costs and how long its failover keeps publishes failing.

    python bench/redis_failover.py

Builds its own redis-server processes on free loopback ports (with the test
suite's helpers, ``tests/support/redis_shapes.py``) and prints one JSON line per figure:

* ``publish_ms``: one publish from one client, p50 over 2,000, on one server;
  with ``WEBSOCKET_BROADCAST_REPLICAS=1`` (``WAIT`` for a replica);
* ``sentinel_failover_s``: from SIGKILL of the primary to the first publish that
  succeeds again, with ``down-after-milliseconds`` 1000 (the default is 30000:
  the window grows by as much), and how many publishes failed meanwhile;
* ``cluster_failover_s``: the same for the primary owning a group, with
  ``cluster-node-timeout`` 1000 (default 15000).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.conf import settings

settings.configure()

from djws.broadcast import PublishError  # noqa: E402
from djws.broadcast.backends.redis import RedisBackend  # noqa: E402
from tests.support import wait_for  # noqa: E402
from tests.support.redis_shapes import REDIS_DOWN, Cluster, Node, SentinelSet  # noqa: E402


def p50_publish(url: str, replicas: int) -> float:
    backend = RedisBackend(url, prefix="bench", presence_ttl=30, timeout=2.0, replicas=replicas)
    try:
        took = []
        for n in range(2000):
            started = time.perf_counter()
            backend.publish(f"g{n % 20}", b"0123456789" * 6)
            took.append(time.perf_counter() - started)
        took.sort()
        return round(took[len(took) // 2] * 1000, 3)
    finally:
        backend.close()


def failover(url: str, kill: object) -> dict[str, float]:
    backend = RedisBackend(url, prefix="bench", presence_ttl=30, timeout=1.0)
    try:
        backend.publish("failover", b"before")
        kill()  # type: ignore[operator]
        started, failed = time.monotonic(), 0
        while time.monotonic() - started < 60:
            try:
                backend.publish("failover", b"after")
                break
            except PublishError:
                failed += 1
                time.sleep(0.05)
        return {"seconds": round(time.monotonic() - started, 2), "failed_publishes": failed}
    finally:
        backend.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="djws-bench-failover-") as name:
        root = Path(name)
        primary = Node(root)
        replica = Node(root, "--replicaof", "127.0.0.1", str(primary.port))
        url = f"redis://127.0.0.1:{primary.port}/0"
        wait_for(
            lambda: replica.client().info("replication")["master_link_status"] == "up",
            20,
            "sync",
            ignoring=REDIS_DOWN,
        )
        for replicas in (0, 1):
            print(json.dumps({"publish_ms": p50_publish(url, replicas), "replicas": replicas}))
        primary.kill()
        replica.kill()
        sentinels = SentinelSet(root / "sentinel")
        try:
            print(
                json.dumps({"sentinel_failover": failover(sentinels.url, sentinels.primary.kill)})
            )
        finally:
            sentinels.stop()
        cluster = Cluster(root / "cluster")
        try:
            owner = cluster.node_of("bench:meta:{failover}")
            print(json.dumps({"cluster_failover": failover(cluster.url, owner.kill)}))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
