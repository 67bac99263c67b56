"""The reconnecting listener the Redis and PostgreSQL backends share.

:class:`ListeningBackend` is the common part of the Redis and PostgreSQL
backends: one listener greenlet per worker holds the single subscribing
connection, reconnects with jittered exponential backoff when it drops, and
on every (re)connection subscribes again to every group that has local members
and rewrites this worker's presence entries -- so a restart of Redis or
PostgreSQL needs no restart of djws. Presence entries belong to a *worker*
whose liveness key the listener refreshes every ``WEBSOCKET_BROADCAST_PRESENCE_TTL
/ 3`` seconds; a killed worker's entries vanish when its key expires.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from ... import metrics
from .base import Backend, redact

__all__ = ["ListeningBackend", "PresenceBatch"]

logger = logging.getLogger("djws.broadcast")


class PresenceBatch:
    """Presence changes written together: entries to add, and (group, connection)
    pairs to remove. A removal cancels an addition of the same pair in the batch,
    so a connection that joins and leaves before the write leaves nothing behind."""

    __slots__ = ("add", "error", "remove")

    def __init__(self) -> None:
        self.add: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.remove: set[tuple[str, str]] = set()
        self.error: Exception | None = None

    def add_entry(self, group: str, connection_id: str, entry: str) -> PresenceBatch:
        self.remove.discard((group, connection_id))
        self.add[group, connection_id] = (group, connection_id, entry)
        return self

    def remove_entry(self, group: str, connection_id: str) -> PresenceBatch:
        self.add.pop((group, connection_id), None)
        self.remove.add((group, connection_id))
        return self


class ListeningBackend(Backend):
    """A backend with one listening connection per worker, kept alive by a greenlet.

    Subclasses implement :meth:`_listen` (connect, call :meth:`_go_live`,
    subscribe to the groups it returns, call :meth:`_connected`, then read until
    the connection fails, raising), :meth:`_send_subscribe`, :meth:`_heartbeat` and the presence
    storage.
    """

    reconnect_min = 0.1
    reconnect_max = 2.0
    #: Seconds of silence after which the listener checks its connection.
    keepalive = 10.0

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        #: Groups this process must be subscribed to.
        self.wanted: set[str] = set()
        self.live = False
        self._lock = threading.Lock()
        self._presence_lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._confirmed: dict[str, threading.Event] = {}
        self._attempted = threading.Event()
        self._greenlets: list[Any] = []
        self._closing = False
        #: Presence removals that failed: undone when the backend is back.
        self._stale_presence: set[tuple[str, str]] = set()
        self._presence_dirty = False
        #: Presence changes waiting for the write in progress to finish.
        self._presence_batch = PresenceBatch()
        self._batch_lock = threading.Lock()

    # Lifecycle

    def start(self) -> None:
        """Spawn the listener and heartbeat greenlets (once per process)."""
        if self._greenlets or self._closing:
            return
        import gevent

        self._greenlets = [gevent.spawn(self._listen_forever), gevent.spawn(self._beat_forever)]

    def close(self) -> None:
        self._closing = True
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        self.live = False

    def _listen_forever(self) -> None:
        delay = 0.0
        while not self._closing:
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - any backend failure: retry later
                if not self._down_logged:
                    logger.warning(
                        "Broadcast backend %s unreachable (%s: %s); reconnecting",
                        redact(self.url),
                        type(exc).__name__,
                        exc,
                    )
                    self._down_logged = True
                else:
                    logger.debug("Broadcast backend still unreachable: %s", exc)
            self.live = False
            self._release_waiters()
            self._attempted.set()
            if self._closing:
                return
            delay = min(max(delay * 2, self.reconnect_min), self.reconnect_max)
            if self._was_live:
                delay = self.reconnect_min
                self._was_live = False
            import gevent

            gevent.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto

    _was_live = False
    _down_logged = False

    def _go_live(self) -> list[str]:
        """Mark the fresh connection live; return the groups to subscribe it to.

        Called by :meth:`_listen` right after connecting, before sending the
        subscriptions. It does not yield, so a concurrent :meth:`subscribe`
        either is in the returned list or sees ``live`` and sends its own.
        """
        groups = sorted(self.wanted)
        self._expect(groups)
        self.live = True
        self._was_live = True
        return groups

    def _connected(self) -> None:
        """Called by :meth:`_listen` once subscribed: wake joiners, restore presence.

        Presence is rewritten in a greenlet of its own: the listener goes on at once
        to read the confirmations of the subscriptions joiners wait for (its round
        trips, behind a reconnect storm's, held them for seconds).
        """
        import gevent

        if self._attempted.is_set():
            metrics.reconnected()  # connected before: this is a reconnection
        self._attempted.set()
        self._down_logged = False
        logger.info(
            "Broadcast backend %s connected (%d groups)", redact(self.url), len(self.wanted)
        )
        gevent.spawn(self._restore_presence)

    def _beat_forever(self) -> None:
        import gevent

        while not self._closing:
            gevent.sleep(self.presence_ttl / 3)
            if not self.live:
                continue
            try:
                fresh = self._heartbeat()
            except Exception as exc:  # noqa: BLE001 - any backend failure: retry later
                logger.debug("Presence heartbeat failed: %s", exc)
                self._presence_dirty = True
                continue
            if not fresh or self._presence_dirty:
                self._restore_presence()

    # Subscriptions

    def _expect(self, groups: list[str]) -> None:
        """Count one confirmation to come for each of ``groups``."""
        for group in groups:
            self._pending[group] = self._pending.get(group, 0) + 1
            if group not in self._confirmed:
                self._confirmed[group] = threading.Event()

    def _confirm(self, group: str) -> None:
        """The backend confirmed one subscription to ``group``: catch up, wake joiners.

        Everything published from now on arrives live; what was published while
        this process was not subscribed is in the history, so the hub reads it
        now, before the listener reads any further live message.
        """
        if self.receiver is not None:
            self.receiver.confirmed(group)
        count = self._pending.get(group, 0) - 1
        if count > 0:
            self._pending[group] = count
            return
        self._pending.pop(group, None)
        event = self._confirmed.pop(group, None)
        if event is not None:
            event.set()

    def _release_waiters(self) -> None:
        self._pending.clear()
        for event in self._confirmed.values():
            event.set()
        self._confirmed.clear()

    def subscribe(self, group: str) -> None:
        self.start()
        self.wanted.add(group)
        if self.live:
            self._expect([group])
            self._send_subscribe(group, True)

    def unsubscribe(self, group: str) -> None:
        self.wanted.discard(group)
        if self.live:
            self._send_subscribe(group, False)

    def wait_subscribed(self, group: str, timeout: float) -> bool:
        self.start()
        if not self._attempted.wait(timeout):
            return False
        if not self.live:
            return False
        event = self._confirmed.get(group)
        if event is not None and not event.wait(timeout):
            return False
        return self.live and group in self.wanted

    # Presence bookkeeping shared by subclasses

    def presence_add(self, group: str, connection_id: str, entry: str) -> None:
        self.start()
        self._stale_presence.discard((group, connection_id))
        if not self.live:
            return  # written by _restore_presence on reconnection
        with self._batch_lock:
            batch = self._presence_batch.add_entry(group, connection_id, entry)
        error = self._write_presence(batch)
        if error is not None:
            logger.debug("Presence write failed: %s", error)
            self._presence_dirty = True

    def presence_remove(self, group: str, connection_id: str) -> None:
        if not self.live:
            self._stale_presence.add((group, connection_id))
            return
        with self._batch_lock:
            batch = self._presence_batch.remove_entry(group, connection_id)
        error = self._write_presence(batch)
        if error is not None:
            logger.debug("Presence removal failed: %s", error)
            self._stale_presence.add((group, connection_id))
            self._presence_dirty = True

    def _write_presence(self, batch: PresenceBatch) -> Exception | None:
        """Wait until ``batch`` is written; return what it failed with, if it did.

        Group commit: whoever takes the lock first writes the whole batch, in one
        round trip, with every change made to it while the previous batch was being
        written (a reconnect storm joins thousands of sockets at once; a write per
        join, one at a time, capped joins at one per round trip).
        """
        with self._presence_lock:
            with self._batch_lock:
                if batch is not self._presence_batch:
                    return batch.error  # written by an earlier holder of the lock
                self._presence_batch = PresenceBatch()
            try:
                self._presence_write(list(batch.add.values()), list(batch.remove))
            except Exception as exc:  # noqa: BLE001 - any backend failure: retry later
                batch.error = exc
        return batch.error

    def _restore_presence(self) -> None:
        """Rewrite this worker's liveness and presence entries after a reconnection."""
        with self._presence_lock:
            stale = list(self._stale_presence)
            try:
                self._heartbeat()
                self._presence_write(self.hub.presence_snapshot(), stale)
            except Exception as exc:  # noqa: BLE001 - any backend failure: retry later
                logger.debug("Presence restore failed: %s", exc)
                self._presence_dirty = True
                return
            self._stale_presence.difference_update(stale)
            self._presence_dirty = False

    # For subclasses

    def _listen(self) -> None:
        raise NotImplementedError

    def _send_subscribe(self, group: str, subscribe: bool) -> None:
        raise NotImplementedError

    def _heartbeat(self) -> bool:
        """Refresh this worker's liveness; return False if it had expired or was lost."""
        raise NotImplementedError

    def _presence_write(
        self, add: list[tuple[str, str, str]], remove: list[tuple[str, str]]
    ) -> None:
        raise NotImplementedError
