"""One Redis against a three-primary Redis Cluster (sharded pub/sub), at the same load.

    python bench/redis_shapes.py [--subscribers 1000] [--rate 20] [--duration 10]

For each shape it starts its own redis-server processes on free loopback ports
(never the machine's Redis), then measures

* publishes per second from one process, 16 greenlets, each to a group of its
  own (``bench/backend_load.py``): the groups spread over the cluster's shards;
* fan-out: ``runwebsocket --workers 2`` of the bench project, ``--subscribers``
  members of one group over both workers, ``--rate`` messages a second for
  ``--duration`` seconds (the ``broadcast`` scenario of ``bench/loadclient.py``):
  p50 / p99 latency from publish to delivery, lost and duplicated deliveries.

and prints one JSON line per shape. Run it on a quiet machine and compare the
lines of one run; do not commit the output of a quick run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < 55000:  # a cluster's bus port is port + 10000 unless set
            return port


def start_redis(root: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    workdir = root / str(port)
    workdir.mkdir()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", *args],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while (
        subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
        ).stdout.strip()
        != b"PONG"
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on {port} did not start")
        time.sleep(0.05)
    return process, port


def single(root: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    process, port = start_redis(root)
    return [process], f"redis://127.0.0.1:{port}/0"


def cluster(root: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    nodes = [start_redis(root, "--cluster-enabled", "yes") for _ in range(3)]
    addresses = [f"127.0.0.1:{port}" for _, port in nodes]
    subprocess.run(
        ["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    time.sleep(2)  # the nodes agree on the slots
    return [process for process, _ in nodes], "redis+cluster://" + ",".join(addresses) + "/"


def measure(url: str, args: argparse.Namespace) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load = subprocess.run(
        [sys.executable, str(BENCH / "backend_load.py"), url, "--count", "4000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, object] = {"publish": json.loads(load.stdout)}
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runwebsocket",
            "--noreload",
            "--workers",
            "2",
            "--skip-checks",
            f"127.0.0.1:{port}",
        ],
        cwd=BENCH / "project",
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": "benchproject.settings_djws",
            "BENCH_BROADCAST_URL": url,
            "BENCH_BROADCAST_PREFIX": f"bench{os.getpid()}",
            "BENCH_DB": str(Path(tempfile.gettempdir()) / f"djws-bench-{os.getpid()}.sqlite3"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        config = {
            "scenario": "broadcast",
            "port": port,
            "path": "/sub",
            "subscribers": args.subscribers,
            "concurrency": 50,
            "rate": args.rate,
            "duration": args.duration,
            "drain": 10.0,
            "size": 64,
            "open_timeout": 120.0,
        }
        fanout = subprocess.run(
            [sys.executable, str(BENCH / "loadclient.py"), json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        found = json.loads(fanout.stdout)
        keep = ("subscribers", "delivered", "lost", "duplicates", "out_of_order")
        result["fanout"] = {k: v for k, v in found.items() if k in keep or k.startswith("p")}
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    for name, build in (("one Redis", single), ("3-primary Cluster", cluster)):
        with tempfile.TemporaryDirectory(prefix="djws-bench-redis-") as root:
            processes, url = build(Path(root))
            try:
                print(json.dumps({"shape": name, **measure(url, args)}), flush=True)
            finally:
                for process in processes:
                    process.kill()
                    process.wait(timeout=10)


if __name__ == "__main__":
    main()
