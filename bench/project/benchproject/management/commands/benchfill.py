"""``manage.py benchfill``: publish M messages to each of G groups and store them as rows.

The resume scenario's publisher (``bench/loadclient.py``, scenario ``resume``),
run while every client is away. Like an application that saves a message and
publishes it, each message is both

* published with ``djws.broadcast.publish(group, text)`` -- stored in the
  group's history (``local://``: in the ``runwebsocket`` worker), and
* written as a row of :class:`benchproject.models.Message` (``group``,
  ``seq``, the ``position`` publish() returned, ``text``), which the baseline
  view ``reload`` reads back.

Groups are ``g0`` ... ``g<G-1>``; message ``k`` (1..M) of a group is the text
``f"{k} {group} "`` padded with ``x`` to ``--size`` characters (the load client
builds the same text to check what it receives). Publishing goes round-robin
over the groups, ``k`` by ``k``. ``--clear`` deletes every row first.

Prints one JSON line: ``{"published", "failed", "seconds", "first": {group:
position}, "last": {group: position}, "consecutive": bool, "rows": N}``;
``consecutive`` says that every group's positions are one epoch and offsets
growing by exactly one. Exits with an error if any publish failed.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from djws import broadcast

from ...models import Message


def message_text(k: int, group: str, size: int) -> str:
    """Message ``k`` of ``group`` (the load client's ``resume_text`` is the same)."""
    return f"{k} {group} ".ljust(size, "x")


class Command(BaseCommand):
    """Publish and store M messages per group; print a JSON summary."""

    help = "Publish M messages to each of g0..gG-1 and store them as rows; print JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument("--groups", type=int, default=50)
        parser.add_argument("--messages", type=int, default=100, help="per group")
        parser.add_argument("--size", type=int, default=64, help="characters per message")
        parser.add_argument("--clear", action="store_true", help="delete every row first")

    def handle(self, *args: Any, **options: Any) -> None:
        """Do it."""
        groups = [f"g{n}" for n in range(options["groups"])]
        size = options["size"]
        if options["clear"]:
            Message.objects.all().delete()
        # The sequence numbers go on from the rows already there (a second fill).
        seqs = {g: Message.objects.filter(group=g).count() for g in groups}
        positions: dict[str, list[str]] = {g: [] for g in groups}
        rows: list[Message] = []
        failed = 0
        started = time.monotonic()
        for k in range(1, options["messages"] + 1):
            for group in groups:
                text = message_text(k, group, size)
                try:
                    position = str(broadcast.publish(group, text))
                except broadcast.PublishError as exc:
                    failed += 1
                    self.stderr.write(f"publish to {group} failed: {exc}")
                    continue
                positions[group].append(position)
                seqs[group] += 1
                rows.append(Message(group=group, seq=seqs[group], position=position, text=text))
        with transaction.atomic():
            Message.objects.bulk_create(rows, batch_size=500)
        elapsed = time.monotonic() - started

        def consecutive(found: list[str]) -> bool:
            parts = [p.rsplit(":", 1) for p in found]
            return len({epoch for epoch, _ in parts}) <= 1 and all(
                int(b[1]) == int(a[1]) + 1 for a, b in itertools.pairwise(parts)
            )

        summary = {
            "published": len(rows),
            "failed": failed,
            "seconds": round(elapsed, 3),
            "first": {g: found[0] for g, found in positions.items() if found},
            "last": {g: found[-1] for g, found in positions.items() if found},
            "consecutive": all(consecutive(found) for found in positions.values()),
            "rows": Message.objects.count(),
        }
        self.stdout.write(json.dumps(summary))
        if failed:
            raise CommandError(f"{failed} publish(es) failed")
