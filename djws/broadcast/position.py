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
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["NOTHING_YET", "Entry", "Position", "Slice", "lost_before", "new_epoch", "read_since"]


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
    ``previous``, when known, is the last position of the epoch before.
    """

    epoch: str
    head: int
    entries: list[Entry]
    #: Where the epoch before this one ended, when the backend knows (Redis after
    #: a change of primary): a position there is followed by this epoch's offset 1.
    previous: Position | None = None

    def covers(self, since: Position) -> bool:
        """Tell whether every message after ``since`` is in this slice."""
        if self.previous is not None and since == self.previous and self.epoch:
            return self.head == 0 or (bool(self.entries) and self.entries[0].offset == 1)
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


def read_since(read: Callable[[int], Slice], since: Position | None) -> Slice:
    """What ``read(after)`` (a backend's history) holds after ``since``.

    When ``since`` is where the previous epoch ended, the current epoch is read
    from its start: its offsets count from 1 again.
    """
    stored = read(since.offset if since is not None else 0)
    if since is not None and since.offset and stored.previous == since:
        stored = read(0)
    return stored


def lost_before(cursor: Position | None, stored: Slice) -> int | None:
    """How many messages of an earlier epoch a worker at ``cursor`` missed.

    ``stored`` is of a new epoch: the backend lost the stream the cursor counts in.
    When the backend recorded where that stream ended (``previous``: another
    primary numbers the group, :mod:`.backends.redis_scripts`), the count is
    exact: a cursor at or past the end missed nothing (past it: the new primary
    lacked what was delivered). When it did not (Redis restarted without
    persistence, a PostgreSQL crash truncated the unlogged tables, the group's
    epoch expired), nobody can tell: the last messages stored before the loss,
    acknowledged to their publishers, may never have reached this worker. Then
    it is ``None``. A cursor in no stream yet (``NOTHING_YET``) missed nothing.
    """
    if cursor is None or not cursor.epoch or cursor.epoch == stored.epoch:
        return 0
    previous = stored.previous
    if previous is None or cursor.epoch != previous.epoch:
        return None
    return max(previous.offset - cursor.offset, 0)
