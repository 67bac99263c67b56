"""``postgresql://``, ``postgres://`` or ``database://ALIAS``: PostgreSQL LISTEN/NOTIFY.

For deployments that already run PostgreSQL and want no other service.
``database://default`` reuses the connection settings of a ``DATABASES`` alias
(its own connections, never Django's: a NOTIFY inside the caller's transaction
would be delayed until commit, or lost on rollback). Uses psycopg 3 when
installed, else psycopg2.

Per worker process: one listening connection (``application_name``
``djws:<prefix>:listen`` in ``pg_stat_activity``), held by the listener greenlet,
which runs every ``LISTEN`` / ``UNLISTEN`` itself (a libpq connection cannot be
shared between a waiting reader and other callers), and one connection for
``NOTIFY`` and presence. Each group is a channel named ``djws_<sha1>`` (channel
names are identifiers, at most 63 bytes).

NOTIFY payloads are text, shorter than 8000 bytes. A message is sent inline
when it fits (text as is, binary in base64); a larger one is stored in the
unlogged table ``djws_broadcast_payload`` and the notification carries its id,
in the same statement (so the row is committed when the notification is
delivered). Receivers read it by id; rows are deleted after
:data:`PAYLOAD_RETENTION`. Tables are created on first use, with
``CREATE UNLOGGED TABLE IF NOT EXISTS`` under an advisory lock: no migration.
"""

from __future__ import annotations

import base64
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

from ..exceptions import BroadcastError, PresenceError, PublishError
from .base import ListeningBackend, redact
from .postgres_driver import Driver, connection_params, has_input

__all__ = ["NOTIFY_LIMIT", "PostgresBackend", "decode_payload", "encode_payload"]

logger = logging.getLogger("djws.broadcast")

#: Largest NOTIFY payload sent inline, in bytes (PostgreSQL refuses 8000 and more).
NOTIFY_LIMIT = 7999
#: How long a large message's row is kept for receivers to read.
PAYLOAD_RETENTION = 300
_CLEANUP_EVERY = 60.0

TABLES_SQL = """
DO $$
BEGIN
    PERFORM pg_advisory_xact_lock(7468111);
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_payload (
        id bigserial PRIMARY KEY,
        created timestamptz NOT NULL DEFAULT now(),
        data bytea NOT NULL
    );
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_worker (
        worker text PRIMARY KEY,
        expires timestamptz NOT NULL
    );
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_presence (
        grp text NOT NULL,
        connection text NOT NULL,
        worker text NOT NULL,
        entry text NOT NULL,
        PRIMARY KEY (grp, connection)
    );
END
$$
"""

HEARTBEAT_SQL = """
WITH old AS (
    SELECT expires > now() AS alive FROM djws_broadcast_worker WHERE worker = %s
), up AS (
    INSERT INTO djws_broadcast_worker (worker, expires)
    VALUES (%s, now() + make_interval(secs => %s))
    ON CONFLICT (worker) DO UPDATE SET expires = excluded.expires
)
SELECT alive FROM old
"""

# Workers silent for ten TTLs are certainly dead: drop them and their entries.
CLEANUP_SQL = """
WITH dead AS (
    DELETE FROM djws_broadcast_worker
    WHERE expires < now() - make_interval(secs => %s) RETURNING worker
)
DELETE FROM djws_broadcast_presence p
WHERE p.worker IN (SELECT worker FROM dead)
   OR NOT EXISTS (SELECT 1 FROM djws_broadcast_worker w WHERE w.worker = p.worker)
"""

PRESENCE_SQL = """
SELECT p.entry FROM djws_broadcast_presence p
JOIN djws_broadcast_worker w ON w.worker = p.worker
WHERE p.grp = %s AND w.expires > now()
"""

CLEANUP_PAYLOAD_SQL = (
    "DELETE FROM djws_broadcast_payload WHERE created < now() - make_interval(secs => %s)"
)

PUBLISH_LARGE_SQL = """
WITH p AS (INSERT INTO djws_broadcast_payload (data) VALUES (%s) RETURNING id)
SELECT pg_notify(%s, '@' || id) FROM p
"""


def encode_payload(wire: bytes) -> str | None:
    """The NOTIFY payload for ``wire``, or None if it is too large to go inline.

    ``u`` + the text when ``wire`` is UTF-8 without NUL (PostgreSQL text cannot
    hold NUL), else ``b`` + base64.
    """
    try:
        text = wire.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return "u" + text if len(wire) < NOTIFY_LIMIT else None
    payload = "b" + base64.b64encode(wire).decode()
    return payload if len(payload) <= NOTIFY_LIMIT else None


def decode_payload(payload: str) -> bytes | int:
    """``wire`` from :func:`encode_payload`, or the row id of a large message."""
    tag, body = payload[:1], payload[1:]
    if tag == "u":
        return body.encode()
    if tag == "b":
        return base64.b64decode(body)
    if tag == "@":
        return int(body)
    raise ValueError(f"not a djws notification: {payload[:20]!r}")


class PostgresBackend(ListeningBackend):
    """LISTEN/NOTIFY with one listening connection per process."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._driver = Driver()
        self._params = connection_params(url)
        self._tables_ready = False
        self._pub_conn: Any = None
        self._pub_lock = threading.Lock()
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
        with self._pub_lock:
            conn = self._pub_conn
            try:
                if conn is None or conn.closed or has_input(conn):
                    # An idle connection that has input was ended by the server
                    # (restart, idle timeout): replace it *before* sending, so a
                    # message is never sent twice.
                    if conn is not None:
                        self._driver.close(conn)
                    self._pub_conn = None
                    conn = self._driver.connect(self._params, f"djws:{self.prefix}:publish"[:63])
                    self._ensure_tables(conn)
                    self._pub_conn = conn
                return action(conn)
            except self._driver.Error as exc:
                if conn is not None:
                    self._driver.close(conn)
                self._pub_conn = None
                raise error(f"{failure}: PostgreSQL at {redact(self.url)} failed: {exc}") from exc

    def publish(self, group: str, wire: bytes) -> None:
        channel = self._channel(group)
        payload = encode_payload(wire)
        execute = self._driver.execute

        def notify(conn: Any) -> None:
            if payload is not None:
                execute(conn, "SELECT pg_notify(%s, %s)", [channel, payload])
                return
            execute(conn, PUBLISH_LARGE_SQL, [wire, channel])
            now = time.monotonic()
            if now - self._last_cleanup > _CLEANUP_EVERY:
                self._last_cleanup = now
                execute(conn, CLEANUP_PAYLOAD_SQL, [PAYLOAD_RETENTION])

        self._run(notify, f"could not publish to group {group!r}", PublishError)

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
        conn = driver.connect(self._params, f"djws:{self.prefix}:listen"[:63])
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
            readable = select.select([fd, wake], [], [], self.keepalive)[0]
            if wake in readable:
                try:
                    while os.read(wake, 4096):
                        pass
                except BlockingIOError:
                    pass
            if not readable:
                self._driver.execute(conn, "SELECT 1")  # raises if the server is gone

    def _receive(self, conn: Any) -> None:
        for channel, payload in self._driver.notifies(conn):
            group = self._channels.get(channel)
            if group is None:
                continue
            try:
                wire = decode_payload(payload)
                if isinstance(wire, int):
                    rows = self._driver.execute(
                        conn, "SELECT data FROM djws_broadcast_payload WHERE id = %s", [wire]
                    )
                    if not rows:
                        logger.warning("Large message %d of group %r is gone; dropped", wire, group)
                        continue
                    wire = bytes(rows[0][0])
                self.hub.dispatch(group, wire)
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

        def write(conn: Any) -> None:
            if remove:
                self._driver.executemany(
                    conn,
                    "DELETE FROM djws_broadcast_presence WHERE grp = %s AND connection = %s",
                    [(self._group_key(g), c) for g, c in remove],
                )
            if add:
                self._driver.executemany(
                    conn,
                    "INSERT INTO djws_broadcast_presence (grp, connection, worker, entry) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (grp, connection) "
                    "DO UPDATE SET worker = excluded.worker, entry = excluded.entry",
                    [(self._group_key(g), c, worker, e) for g, c, e in add],
                )

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
        with self._pub_lock:
            if self._pub_conn is not None:
                self._driver.close(self._pub_conn)
                self._pub_conn = None
