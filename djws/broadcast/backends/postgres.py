r"""``postgresql://``, ``postgres://`` or ``database://ALIAS``: PostgreSQL LISTEN/NOTIFY.

For deployments that already run PostgreSQL and want no other service.
``database://default`` reuses the connection settings of a ``DATABASES`` alias,
with connections of its own for listening and for publishing outside
transactions. Uses psycopg 3 when installed, else psycopg2.

A publish inside ``atomic()`` on that same alias goes into the caller's
transaction instead (:meth:`PostgresBackend.publish_in_transaction`): the
message's row commits with the data, or rolls back with it -- a transactional
outbox -- and it is numbered and notified during the ``COMMIT``
(:mod:`.postgres_sql` says how offsets stay gapless).

Per worker process: one listening connection (``application_name``
``djws:<prefix>:listen`` in ``pg_stat_activity``), held by the listener greenlet,
which runs every ``LISTEN`` / ``UNLISTEN`` itself (a libpq connection cannot be
shared between a waiting reader and other callers), and a pool of at most
:data:`POOL_SIZE` connections for ``NOTIFY``, history and presence, opened as
they are needed. Each group is a channel named ``djws_<sha1>`` (channel
names are identifiers, at most 63 bytes).

Publishing is one call of the SQL function ``djws_broadcast_publish()``
(:mod:`.postgres_sql`): it numbers the message in ``djws_broadcast_stream`` (a
row per group: its epoch and last offset; the row lock orders concurrent
publishers), stores it in ``djws_broadcast_history`` (the history, pruned to
the configured length and age) and ``NOTIFY``\s ``epoch:offset:`` followed by
the message (:mod:`.postgres_payload`), all committed together. The tables are
unlogged: a PostgreSQL crash truncates them, and the next message starts a new
epoch. They are created on first use, with ``CREATE UNLOGGED TABLE IF NOT
EXISTS`` under an advisory lock: no migration.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ...pool import peer_closed
from ..exceptions import BroadcastError, HistoryError, PresenceError, PublishError
from ..position import Entry, Position, Slice, new_epoch
from .base import redact
from .listening import ListeningBackend
from .postgres_driver import Driver, alias_of, connection_params
from .postgres_payload import NOTIFY_LIMIT, decode_payload, encode_payload
from .postgres_sql import (
    CLEANUP_HISTORY_SQL,
    CLEANUP_SQL,
    HEARTBEAT_SQL,
    PRESENCE_ADD_SQL,
    PRESENCE_REMOVE_SQL,
    PRESENCE_SQL,
    PUBLISH_SQL,
    READ_SQL,
    STAGE_SQL,
    TABLES_SQL,
)

__all__ = ["NOTIFY_LIMIT", "PostgresBackend", "decode_payload", "encode_payload"]

logger = logging.getLogger("djws.broadcast")

#: Messages kept in the history whatever the setting, so that a receiver can read a
#: message too large for NOTIFY (with a history length of 0, none is replayed).
MIN_KEPT = 100
#: A group's epoch and offset outlive its history by this much (seconds).
META_TTL = 86400
_CLEANUP_EVERY = 60.0
#: Connections per process for NOTIFY, history and presence (the listener has its
#: own): enough that a reconnect storm's history reads and presence writes, and
#: the publishes of busy views, do not queue behind each other.
POOL_SIZE = 4


class PostgresBackend(ListeningBackend):
    """LISTEN/NOTIFY with one listening connection per process."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._driver = Driver()
        self._params = connection_params(url)
        #: The DATABASES alias of ``database://ALIAS``, whose transactions publish
        #: into themselves; None for a ``postgresql://`` URL.
        self.alias = alias_of(url)
        self._tables_ready = False
        #: Idle connections for NOTIFY, history and presence, and the right to use one.
        self._idle: list[Any] = []
        self._pool_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        self._commands: deque[tuple[bool, str]] = deque()
        self._channels: dict[str, str] = {}
        self._wake: tuple[int, int] | None = None
        self._last_cleanup = 0.0

    def _channel(self, group: str) -> str:
        digest = hashlib.sha1(f"{self.prefix}:{group}".encode()).hexdigest()  # noqa: S324
        return f"djws_{digest}"

    def _ensure_tables(self, conn: Any) -> None:
        if not self._tables_ready:
            self._driver.execute(conn, TABLES_SQL)
            self._tables_ready = True

    # The connection for NOTIFY and presence

    def _run(self, action: Callable[[Any], Any], failure: str, error: type[BroadcastError]) -> Any:
        """Run ``action(conn)`` on a pooled connection; raise ``error`` if PostgreSQL fails.

        At most :data:`POOL_SIZE` run at once; the others wait for a connection,
        up to ``WEBSOCKET_BROADCAST_TIMEOUT``.
        """
        if not self._slots.acquire(timeout=self.timeout):
            raise error(
                f"{failure}: every one of the {POOL_SIZE} connections to PostgreSQL at "
                f"{redact(self.url)} stayed busy for {self.timeout} s"
            )
        conn = None
        try:
            with self._pool_lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed or peer_closed(conn):
                # An idle connection that has input was ended by the server
                # (restart, idle timeout): replace it *before* sending, so a
                # message is never sent twice.
                if conn is not None:
                    self._driver.close(conn)
                conn = None
                conn = self._driver.connect(
                    self._params, f"djws:{self.prefix}:publish"[:63], self.timeout
                )
                self._ensure_tables(conn)
            result = action(conn)
        except self._driver.Error as exc:
            if conn is not None:
                self._driver.close(conn)
            conn = None
            raise error(f"{failure}: PostgreSQL at {redact(self.url)} failed: {exc}") from exc
        finally:
            if conn is not None:
                with self._pool_lock:
                    self._idle.append(conn)
            self._slots.release()
        return result

    def _publish_params(self, group: str, wire: bytes) -> dict[str, Any]:
        return {
            "grp": self._group_key(group),
            "epoch": new_epoch(),
            "data": wire,
            "keep": max(self.history_length, MIN_KEPT),
            "channel": self._channel(group),
            "payload": encode_payload(wire) or "@",
        }

    def _cleanup_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_cleanup <= _CLEANUP_EVERY:
            return False
        self._last_cleanup = now
        return True

    def _cleanup(self, conn: Any) -> None:
        cleanup = {"age": max(self.history_age, 60), "ttl": META_TTL}
        self._driver.execute(conn, CLEANUP_HISTORY_SQL, cleanup)

    def publish(self, group: str, wire: bytes) -> Position:
        params = self._publish_params(group, wire)
        execute = self._driver.execute

        def store_and_notify(conn: Any) -> Position:
            rows = execute(conn, PUBLISH_SQL, params)
            if self._cleanup_due():
                self._cleanup(conn)
            return Position(rows[0][0], int(rows[0][1]))

        position: Position = self._run(
            store_and_notify, f"could not publish to group {group!r}", PublishError
        )
        return position

    def publish_in_transaction(self, group: str, wire: bytes, using: str) -> bool:
        """Stage ``wire`` in the transaction open on ``DATABASES[using]``, if it is this database.

        The row is written on the caller's connection, in a savepoint (a failure
        leaves the caller's transaction usable, and raises ``PublishError``); the
        ``COMMIT`` numbers, stores and notifies it. Not at isolation levels above
        READ COMMITTED, where numbering at commit would make the commit fail
        whenever another transaction published to the group meanwhile: there
        (and for another alias) return False, and the message is published
        after the commit instead.
        """
        if using != self.alias:
            return False
        from django.db import DatabaseError, connections, transaction

        connection = connections[using]
        level = getattr(getattr(connection, "isolation_level", None), "name", "READ_COMMITTED")
        if level not in ("READ_COMMITTED", "READ_UNCOMMITTED"):
            return False
        failure = f"could not publish to group {group!r}"
        if not self._tables_ready:
            self._run(lambda conn: None, failure, PublishError)  # creates them, autocommit
        try:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(STAGE_SQL, self._publish_params(group, wire))
        except DatabaseError as exc:
            raise PublishError(
                f"{failure} in the transaction of DATABASES[{using!r}]: {exc}"
            ) from exc
        if self._cleanup_due():
            self._run(self._cleanup, "could not clean up the history", PublishError)
        return True

    def read(self, group: str, after: int) -> Slice:
        params = {"grp": self._group_key(group), "after": after, "age": self.history_age}
        rows = self._run(
            lambda conn: self._driver.execute(conn, READ_SQL, params),
            f"could not read the history of group {group!r}",
            HistoryError,
        )
        if not rows:
            return Slice("", 0, [])
        entries = []
        if self.history_length:
            entries = [Entry(int(r[2]), bytes(r[3])) for r in rows if r[2] is not None]
        return Slice(rows[0][0], int(rows[0][1]), entries)

    # Listening

    def start(self) -> None:
        if self._wake is None:
            read, write = os.pipe()
            os.set_blocking(read, False)
            os.set_blocking(write, False)
            self._wake = (read, write)
        super().start()

    def _send_subscribe(self, group: str, subscribe: bool) -> None:
        self._commands.append((subscribe, group))
        if self._wake is not None:
            with contextlib.suppress(BlockingIOError):  # already awake
                os.write(self._wake[1], b"x")

    def _listen(self) -> None:
        driver = self._driver
        conn = driver.connect(self._params, f"djws:{self.prefix}:listen"[:63], self.timeout)
        try:
            self._ensure_tables(conn)
            self._commands.clear()
            groups = self._go_live()
            for group in groups:
                self._do_listen(conn, group, True)
            self._connected()
            self._loop(conn)
        finally:
            self.live = False
            driver.close(conn)

    def _do_listen(self, conn: Any, group: str, subscribe: bool) -> None:
        channel = self._channel(group)
        if subscribe:
            if group in self.wanted:
                self._channels[channel] = group
                self._driver.execute(conn, f'LISTEN "{channel}"')
            self._confirm(group)
        elif group not in self.wanted:
            self._driver.execute(conn, f'UNLISTEN "{channel}"')
            self._channels.pop(channel, None)

    def _loop(self, conn: Any) -> None:
        assert self._wake is not None
        wake = self._wake[0]
        fd = conn.fileno()
        while True:
            while self._commands:
                subscribe, group = self._commands.popleft()
                self._do_listen(conn, group, subscribe)
            self._receive(conn)
            # poll, not select: a busy worker's descriptors go past select's 1024.
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.register(wake, select.POLLIN)
            readable = {ready for ready, _event in poller.poll(self.keepalive * 1000)}
            if wake in readable:
                try:
                    while os.read(wake, 4096):
                        pass
                except BlockingIOError:
                    pass
            if not readable:
                self._driver.execute(conn, "SELECT 1")  # raises if the server is gone

    def _receive(self, conn: Any) -> None:
        # Until none is left: notifications that arrive while a large message
        # is read from the history are buffered by the driver, off the socket
        # that the loop waits on.
        while notifications := self._driver.notifies(conn):
            for channel, notification in notifications:
                self._deliver(conn, channel, notification)

    def _deliver(self, conn: Any, channel: str, notification: str) -> None:
        group = self._channels.get(channel)
        if group is None:
            return
        try:
            epoch, offset, ms, payload = notification.split(":", 3)
            position = Position(epoch, int(offset))
            wire = decode_payload(payload)
            if wire is None:  # too large for NOTIFY: read it from the history
                rows = self._driver.execute(
                    conn,
                    'SELECT data FROM djws_broadcast_history WHERE grp = %s AND "offset" = %s',
                    [self._group_key(group), position.offset],
                )
                if not rows:
                    # Pruned already: the hub fills the gap from the history, or
                    # tells its clients the gap could not be filled.
                    logger.warning(
                        "Message %s of group %r is gone from the history", position, group
                    )
                    return
                wire = bytes(rows[0][0])
            self.hub.receive(group, position, wire, int(ms) / 1000)
        except self._driver.Error:
            raise
        except Exception:
            logger.exception("Could not deliver a message of group %r", group)

    # Presence

    def _group_key(self, group: str) -> str:
        return f"{self.prefix}:{group}"

    def _heartbeat(self) -> bool:
        worker = self.hub.worker_id
        execute = self._driver.execute

        def beat(conn: Any) -> bool:
            rows = execute(conn, HEARTBEAT_SQL, [worker, worker, self.presence_ttl])
            execute(conn, CLEANUP_SQL, [self.presence_ttl * 10])
            return bool(rows and rows[0][0])

        return bool(self._run(beat, "could not refresh presence", PresenceError))

    def _presence_write(
        self, add: list[tuple[str, str, str]], remove: list[tuple[str, str]]
    ) -> None:
        if not add and not remove:
            return
        worker = self.hub.worker_id
        # Unique (group, connection) pairs: one statement may not update a row twice.
        removed = list({(self._group_key(g), c) for g, c in remove})
        added = {(self._group_key(g), c): e for g, c, e in add}
        keys = list(added)
        execute = self._driver.execute

        def write(conn: Any) -> None:
            if removed:
                groups, connections = [g for g, _ in removed], [c for _, c in removed]
                execute(conn, PRESENCE_REMOVE_SQL, [groups, connections])
            if keys:
                groups, connections = [g for g, _ in keys], [c for _, c in keys]
                execute(conn, PRESENCE_ADD_SQL, [worker, groups, connections, list(added.values())])

        self._run(write, "could not write presence", PresenceError)

    def presence(self, group: str) -> list[dict[str, Any]]:
        rows = self._run(
            lambda conn: self._driver.execute(conn, PRESENCE_SQL, [self._group_key(group)]),
            f"could not read presence of group {group!r}",
            PresenceError,
        )
        entries = [json.loads(row[0]) for row in rows]
        return sorted(entries, key=lambda e: (e["worker"], e["connection"]))

    def close(self) -> None:
        super().close()
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._driver.close(conn)
