"""``memory://``: broadcast inside one process, no service needed.

The explicit single-process choice: ``publish`` numbers the message, keeps it in
this process's history (:class:`MemoryHistory`) and hands it straight to this
process's hub. It cannot reach another worker or machine, so ``runwebsocket
--workers 2`` with it is a system check error (``djws.E021``), and publishing
from a process that serves no WebSockets (the shell, a management command, a
Celery worker) warns: nobody there will get it.

The epoch is new in every process: a restart loses the history, and positions
of the old process are reported as not recoverable.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections import deque
from typing import Any

from ..position import Entry, Position, Slice, new_epoch
from .base import Backend

__all__ = ["MemoryBackend", "MemoryHistory", "OutsideServerWarning"]


class OutsideServerWarning(RuntimeWarning):
    """memory:// was used to publish from a process that serves no WebSockets."""


class _Stream:
    __slots__ = ("entries", "head", "times")

    def __init__(self, length: int) -> None:
        self.head = 0
        self.entries: deque[Entry] = deque(maxlen=length)
        self.times: deque[float] = deque(maxlen=length)


class MemoryHistory:
    """Numbered, bounded history of every group, in this process.

    Memory: at most ``length`` messages per group (their wire bytes plus about
    150 bytes each), dropped once older than ``age`` seconds.
    """

    def __init__(self, length: int, age: float) -> None:
        self.epoch = new_epoch()
        self.length = max(length, 0)
        self.age = age
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()

    def append(self, group: str, wire: bytes) -> Position:
        """Number ``wire`` and keep it; return its position."""
        with self._lock:
            stream = self._streams.get(group)
            if stream is None:
                stream = self._streams[group] = _Stream(self.length)
            stream.head += 1
            if self.length:
                stream.entries.append(Entry(stream.head, wire))
                stream.times.append(time.monotonic())
            return Position(self.epoch, stream.head)

    def read(self, group: str, after: int) -> Slice:
        """The group's kept messages after offset ``after``."""
        with self._lock:
            stream = self._streams.get(group)
            if stream is None:
                return Slice(self.epoch, 0, [])
            self._expire(stream)
            entries = [entry for entry in stream.entries if entry.offset > after]
            return Slice(self.epoch, stream.head, entries)

    def _expire(self, stream: _Stream) -> None:
        oldest = time.monotonic() - self.age
        while stream.times and stream.times[0] < oldest:
            stream.times.popleft()
            stream.entries.popleft()


def _outside_djws() -> int:
    """The ``stacklevel`` of the first caller outside djws: the user's own line."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("djws."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


class MemoryBackend(Backend):
    """Deliver to this process's connections only."""

    cross_process = False

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.history = MemoryHistory(self.history_length, self.history_age)

    def publish(self, group: str, wire: bytes) -> Position:
        if not self.serving:
            warnings.warn(
                "WEBSOCKET_BROADCAST_URL is 'memory://', which only reaches WebSockets "
                "served by this same process, and this process serves none: the message "
                "reaches nobody. Leave WEBSOCKET_BROADCAST_URL unset (local://) to reach "
                "runwebsocket on this machine, or use redis:// or postgresql://.",
                OutsideServerWarning,
                stacklevel=_outside_djws(),
            )
        position = self.history.append(group, wire)
        if self.receiver is not None:
            self.receiver.receive(group, position, wire)
        return position

    def read(self, group: str, after: int) -> Slice:
        return self.history.read(group, after)

    def presence(self, group: str) -> list[dict[str, Any]]:
        if self.receiver is None:
            return []
        return sorted(self.receiver.local_presence(group), key=lambda e: e["connection"])
