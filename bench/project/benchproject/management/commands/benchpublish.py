"""``manage.py benchpublish``: publish to many groups, from outside the server.

The reconnect storm's publisher (``bench/loadclient.py``, scenario ``storm``):
a process of its own, as a Celery worker or a web process would be, so that it
keeps publishing while the server restarts.

1. Publishes one message to each of ``--groups`` groups (``g0``, ``g1``, ...),
   so every group has a position a client can resume from, then prints
   ``primed``.
2. Publishes round-robin over the groups, ``--rate`` messages a second in all,
   until its standard input closes (or ``--max-seconds``).
3. Prints one JSON line: ``{"published": N, "failed": N, "last": {group: position}}``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from djws import broadcast


class Command(BaseCommand):
    """Prime the groups, then publish until stdin closes; print a summary."""

    help = "Publish round-robin to g0..gN-1 until stdin closes; print a JSON summary."

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument("--groups", type=int, default=100)
        parser.add_argument("--rate", type=float, default=50.0, help="messages/s in all")
        parser.add_argument("--max-seconds", type=float, default=600.0)

    def handle(self, *args: Any, **options: Any) -> None:
        """Do it."""
        groups = [f"g{n}" for n in range(options["groups"])]
        last: dict[str, str] = {}
        published = failed = 0

        def send(group: str, n: int) -> None:
            nonlocal published, failed
            try:
                last[group] = str(broadcast.publish(group, f"{n} {group}"))
                published += 1
            except broadcast.PublishError:
                failed += 1

        for n, group in enumerate(groups):
            send(group, n)
        self.stdout.write("primed")
        self.stdout.flush()
        stop = threading.Event()

        def watch_stdin() -> None:
            sys.stdin.read()  # returns at EOF: the load client closed it
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        interval = 1.0 / options["rate"]
        start = time.monotonic()
        deadline = start + options["max_seconds"]
        n = len(groups)
        while not stop.is_set() and time.monotonic() < deadline:
            send(groups[n % len(groups)], n)
            n += 1
            stop.wait(max(0.0, start + (n - len(groups)) * interval - time.monotonic()))
        self.stdout.write(json.dumps({"published": published, "failed": failed, "last": last}))
