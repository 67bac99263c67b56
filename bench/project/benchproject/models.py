"""The resume scenario's table: the messages an application stores as it publishes them.

``manage.py benchfill`` writes a row for every message it publishes to a group;
the baseline view ``reload`` reads a group's last rows back, as a page that
reconnects without djws's history would reload "the last 100 messages".
"""

from __future__ import annotations

from django.db import models


class Message(models.Model):
    """One message of a group, as published (``position`` is what publish() returned)."""

    group = models.CharField(max_length=64)
    seq = models.PositiveIntegerField()
    position = models.CharField(max_length=64)
    text = models.TextField()

    class Meta:
        # A group's latest rows: WHERE group = ? ORDER BY id DESC LIMIT 100 walks this index.
        indexes = [models.Index(fields=["group", "id"], name="bench_message_group_id")]

    def __str__(self) -> str:
        return f"{self.group} {self.position}"
