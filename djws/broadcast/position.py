"""Positions in a group's stream of messages, and slices of its history.

Every message published to a group gets a :class:`Position`: the ``offset``
grows by exactly one per message in that group, and the ``epoch`` names the
stream the offsets count in. A backend starts a new epoch whenever it lost the
stream -- Redis restarted without persistence, a PostgreSQL crash truncated the
unlogged tables, a ``memory://`` process restarted -- so a position of an old
epoch can never be mistaken for one of the new stream.

A position travels as text, ``"<epoch>:<offset>"`` (``str(position)``), in the
JSON envelopes djws.js reads, in Server-Sent Events' ``id:`` field, and in
query strings.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

__all__ = ["NOTHING_YET", "Entry", "Position", "Slice", "new_epoch"]


def new_epoch() -> str:
    """A fresh epoch name: 8 random hex digits (never contains ``:``)."""
    return secrets.token_hex(4)


class Position(NamedTuple):
    """Where a message stands in its group's stream.

    An empty epoch means "no stream yet": nothing was published since the
    backend started (or lost its data); offset 0 is "before the first message".
    """

    epoch: str
    offset: int

    def __str__(self) -> str:
        return f"{self.epoch}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """Read ``"<epoch>:<offset>"``; raise ValueError if it is not one."""
        epoch, sep, offset = str(text).rpartition(":")
        if not sep or ":" in epoch or not offset.isdigit():
            raise ValueError(f"not a djws position (epoch:offset): {text!r}")
        return cls(epoch, int(offset))


#: The position of a client that joined a group before its stream existed.
NOTHING_YET = Position("", 0)


class Entry(NamedTuple):
    """One stored message: its offset and its wire bytes (:mod:`.message`)."""

    offset: int
    wire: bytes


class Slice(NamedTuple):
    """What a backend's history holds of a group after some offset.

    ``head`` is the offset of the group's last message (0: none yet), in
    ``epoch``; ``entries`` are the stored messages after the offset asked for,
    oldest first -- as many as the history still holds, so they may start later
    than asked (then the gap is not covered) or be fewer than ``head`` implies.
    """

    epoch: str
    head: int
    entries: list[Entry]

    def covers(self, since: Position) -> bool:
        """Tell whether every message after ``since`` is in this slice."""
        if since == NOTHING_YET and self.epoch:
            # Before any stream existed: every message of the stream there is now.
            return self.head == 0 or (bool(self.entries) and self.entries[0].offset == 1)
        if since.epoch != self.epoch or since.offset > self.head:
            return False
        if since.offset == self.head:
            return True
        return bool(self.entries) and self.entries[0].offset == since.offset + 1

    @property
    def position(self) -> Position:
        """The position of the group's last message."""
        return Position(self.epoch, self.head)
