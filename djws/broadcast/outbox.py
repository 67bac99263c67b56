"""Keep what committed transactions published until the backend takes it: the outbox.

A publish deferred to a commit (:mod:`.commit`) has nobody to raise to: the
transaction committed, the view may have answered already. So when the backend
fails at that moment (Redis restarting, a network blip, ``local://`` without a
``runwebsocket``), the message is kept here, in this process's memory, and a
background thread retries it with backoff (0.1 s doubling to 5 s, with jitter)
until the backend takes it.

* **Never silent.** The first failure of an outage logs a warning naming the
  group, the error and what happens next; the end of the outage logs how many
  messages were delivered late. ``runwebsocket --metrics`` counts each message
  in ``djws_broadcast_outbox_total{outcome="kept"|"delivered"|"dropped"}``.
* **Bounded.** The kept messages may weigh ``WEBSOCKET_BROADCAST_OUTBOX_LIMIT``
  bytes (their wire bytes plus 100 each). A message that does not fit is
  dropped: an error names its group and the setting, and it is counted
  ``dropped``. The kept ones keep their place.
* **In order.** While messages are kept, later commits queue behind them, and a
  publish outside a transaction first sends them (raising ``PublishError`` if
  the backend still fails), so one process's messages keep their order.
* **Lost with the process.** This is memory, not a disk: a process that exits
  with messages kept tries once more, then logs an error with their number and
  groups. Where that is not acceptable, use PostgreSQL with
  ``database://ALIAS``, whose messages commit with the data.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
from collections import deque
from typing import NamedTuple

from .. import metrics
from ..conf import settings
from .backends import Backend, get_backend
from .exceptions import PublishError

__all__ = ["OVERHEAD", "Kept", "Outbox", "outbox"]

logger = logging.getLogger("djws.broadcast")

#: Bytes counted per kept message on top of its wire bytes (the entry itself).
OVERHEAD = 100
FIRST_DELAY = 0.1
MAX_DELAY = 5.0


class Kept(NamedTuple):
    """A committed message the backend has not taken yet."""

    channel: str
    wire: bytes
    group: str


class Outbox:
    """This process's kept messages, and the thread that retries them."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()  # the queue and its size
        self._sending = threading.Lock()  # one sender at a time: order
        self._queue: deque[Kept] = deque()
        self._size = 0
        self._thread: threading.Thread | None = None
        self._since = 0.0
        self._late = 0  # delivered from the outbox in this outage

    def __len__(self) -> int:
        return len(self._queue)

    def _groups(self) -> list[str]:
        """The groups of the kept messages, oldest first, each once (under the lock)."""
        return list(dict.fromkeys(kept.group for kept in self._queue))

    def publish(self, backend: Backend, channel: str, wire: bytes, group: str) -> None:
        """Publish a committed transaction's message now, or keep it for later."""
        if not self._queue:
            try:
                backend.publish(channel, wire)
                return
            except PublishError as exc:
                self.keep(Kept(channel, wire, group), exc)
                return
        self.keep(Kept(channel, wire, group), None)

    def keep(self, kept: Kept, error: PublishError | None) -> None:
        """Queue ``kept`` behind the others, or drop it (logged) if it does not fit."""
        limit = int(settings.WEBSOCKET_BROADCAST_OUTBOX_LIMIT)
        cost = len(kept.wire) + OVERHEAD
        with self._lock:
            fits = self._size + cost <= limit
            first = fits and not self._queue
            if fits:
                self._queue.append(kept)
                self._size += cost
                if first:
                    self._since = time.monotonic()
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._retry, name="djws-broadcast-outbox", daemon=True
                    )
                    self._thread.start()
            kept_count, size = len(self._queue), self._size
        if not fits:
            metrics.outbox("dropped")
            logger.error(
                "Broadcast outbox full (%d messages, %d of %d bytes): a committed message to "
                "group %r was dropped and will not be delivered (%s). Raise "
                "WEBSOCKET_BROADCAST_OUTBOX_LIMIT, or make the backend reachable again.",
                kept_count,
                size,
                limit,
                kept.group,
                error or "the backend is failing",
            )
            return
        metrics.outbox("kept")
        if first:
            logger.warning(
                "Could not publish to group %r after its transaction committed (%s): the message "
                "is kept in this process's broadcast outbox and retried until the backend "
                "takes it (at most WEBSOCKET_BROADCAST_OUTBOX_LIMIT=%d bytes are kept)",
                kept.group,
                error or "the backend is failing",
                limit,
            )

    def flush(self) -> None:
        """Send every kept message now, in order; raise PublishError if the backend fails."""
        while self._queue:
            self._send_first()

    def _send_first(self) -> None:
        with self._sending:
            with self._lock:
                if not self._queue:
                    return
                kept = self._queue[0]
            get_backend().publish(kept.channel, kept.wire)
            with self._lock:
                self._queue.popleft()
                self._size -= len(kept.wire) + OVERHEAD
                self._late += 1
        metrics.outbox("delivered")

    def _retry(self) -> None:
        delay = FIRST_DELAY
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    delivered, self._late = self._late, 0
                    since = self._since
                    break
            try:
                self._send_first()
            except PublishError:
                time.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                delay = min(delay * 2, MAX_DELAY)
            except Exception:  # a bug must not leave the messages without a sender
                logger.exception("Broadcast outbox: retrying a kept message failed")
                time.sleep(MAX_DELAY)
            else:
                delay = FIRST_DELAY
        logger.warning(
            "Broadcast outbox: %d committed messages were published late, after %.1f s",
            delivered,
            time.monotonic() - since,
        )

    def close(self) -> None:
        """At exit: try the kept messages once more, and log those that are lost."""
        try:
            self.flush()
        except PublishError as exc:
            with self._lock:
                lost, groups = len(self._queue), self._groups()
                self._queue.clear()
                self._size = 0
            for _ in range(lost):
                metrics.outbox("dropped")
            logger.error(
                "%d committed broadcast messages were never published and are lost with this "
                "process (groups: %s): %s",
                lost,
                ", ".join(map(repr, groups)),
                exc,
            )

    def _forget_after_fork(self) -> None:
        # The parent keeps and retries its own messages; a forked child must not
        # send them a second time.
        self._reset()


#: This process's outbox.
outbox = Outbox()
atexit.register(outbox.close)
os.register_at_fork(after_in_child=outbox._forget_after_fork)
