"""The last messages a worker delivered in a group, kept for members that resume.

After a restart, every client of a group comes back from about the same position:
the last message it saw. Each one's resume is a read of the backend's history
(a round trip, and in a reconnect storm most of the worker's system calls after
the 101). The first read a worker makes for a group tells it what came after
that position; when that read ends where the worker's live stream of the group
is, the worker keeps it as the group's :class:`Recent` window, adds every message
it delivers after it, and answers the resumes that start inside the window
itself, in the same order and with the same positions, without asking the backend.

A window is bounded: :data:`RECENT_MESSAGES` messages, :data:`RECENT_BYTES` bytes
(the oldest go first), and it is dropped :data:`RECENT_SECONDS` after it last
served a resume, or as soon as a message does not follow the last one (a reset,
a new epoch).
"""

from __future__ import annotations

from time import monotonic

from .position import Position

__all__ = ["RECENT_BYTES", "RECENT_MESSAGES", "RECENT_SECONDS", "Recent"]

#: Messages a window keeps, at most.
RECENT_MESSAGES = 64
#: Bytes of messages a window keeps, at most.
RECENT_BYTES = 64 * 1024
#: Seconds a window is kept after it last served a resume.
RECENT_SECONDS = 30.0


class Recent:
    """The messages of one group after position :attr:`after`, each following the last."""

    __slots__ = ("after", "entries", "size", "until")

    def __init__(self, after: Position, entries: list[tuple[Position, bytes]]) -> None:
        #: The position of the message before the first one kept.
        self.after = after
        self.entries = entries
        self.size = sum(len(wire) for _, wire in entries)
        self.until = monotonic() + RECENT_SECONDS
        self._trim()

    @classmethod
    def of(cls, since: Position, read: list[tuple[Position, bytes]]) -> Recent | None:
        """A window of ``read``, the messages after ``since``, if they follow each other."""
        offset = since.offset
        for position, _wire in read:
            offset += 1
            if position.epoch != since.epoch or position.offset != offset:
                return None
        return cls(since, list(read))

    @property
    def last(self) -> Position:
        """The position of the last message kept (:attr:`after` when none is)."""
        return self.entries[-1][0] if self.entries else self.after

    def add(self, position: Position, wire: bytes) -> bool:
        """Keep the next message; False if it does not follow (or the window expired)."""
        last = self.last
        if position.epoch != last.epoch or position.offset != last.offset + 1:
            return False
        if monotonic() > self.until:
            return False
        self.entries.append((position, wire))
        self.size += len(wire)
        self._trim()
        return True

    def since(self, position: Position) -> list[tuple[Position, bytes]] | None:
        """The messages after ``position``, if this window holds every one of them."""
        after = self.after
        if position.epoch != after.epoch or not after.offset <= position.offset <= (
            self.last.offset
        ):
            return None
        self.until = monotonic() + RECENT_SECONDS
        return self.entries[position.offset - after.offset :]

    def _trim(self) -> None:
        entries = self.entries
        drop = 0
        while drop < len(entries) and (
            len(entries) - drop > RECENT_MESSAGES or self.size > RECENT_BYTES
        ):
            self.size -= len(entries[drop][1])
            drop += 1
        if drop:
            self.after = entries[drop - 1][0]
            del entries[:drop]
