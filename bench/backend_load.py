"""Publishes per second and latency of one process's broadcast backend, under gevent.

    python bench/backend_load.py URL [--greenlets 16] [--count 2000] [--read]

``URL`` is a WEBSOCKET_BROADCAST_URL (``postgresql://...``, ``redis://...``,
``redis+cluster://...``). ``--greenlets`` greenlets of one process publish
``--count`` messages in all, each to a group of its own (with ``--read``, each
publish is followed by a history read of the group's last message, as a
joining client's resume is). Prints one JSON
line: publishes per second, and the p50 / p99 of one publish in milliseconds.
Nothing else runs: this measures what the backend lets one worker do at once.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure()

from django.utils.module_loading import import_string  # noqa: E402

from djws.broadcast.backends import BACKENDS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--greenlets", type=int, default=16)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--read", action="store_true")
    parser.add_argument("--prefix", default=f"bench{int(time.time())}")
    args = parser.parse_args()
    cls = import_string(BACKENDS[args.url.split("://")[0]])
    backend = cls(args.url, prefix=args.prefix, presence_ttl=30, timeout=10.0)
    backend.publish("warm-up", b"x")
    latencies: list[float] = []
    each = args.count // args.greenlets

    def work(n: int) -> None:
        group = f"g{n}"
        for _ in range(each):
            started = time.perf_counter()
            position = backend.publish(group, b"0123456789" * 6)
            if args.read:
                backend.read(group, position.offset - 1)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(work, n) for n in range(args.greenlets)], raise_error=True)
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(
        json.dumps(
            {
                "url": args.url.split("@")[-1],
                "greenlets": args.greenlets,
                "publishes_per_s": round(len(latencies) / elapsed),
                "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
                "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            }
        )
    )
    backend.close()


if __name__ == "__main__":
    main()
