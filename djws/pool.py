"""A small per-worker pool of idle database connections, shared by greenlets.

Under gevent each request runs in a new greenlet with its own Django connection
object, so ``CONN_MAX_AGE`` cannot reuse anything: every WebSocket handshake
that reads a session opened a fresh database connection (SQLite: ~0.5 ms of
PRAGMAs and function registrations; PostgreSQL: a new backend). Instead, when
djws releases a greenlet's connection (after the handshake, when a view waits,
at the end of a request), a clean one -- autocommit, no transaction, no error --
is parked here, and the next greenlet that connects takes it instead of
opening a new one.

Installed only in server processes (:func:`install`), by wrapping the backend's
``get_new_connection``. Django's own psycopg 3 pool (``OPTIONS={"pool": True}``)
is left to do its job. Connections idle for more than ``MAX_IDLE`` seconds are
closed, so a quiet worker holds none.

A parked connection may have died meanwhile: the database restarted or failed
over, an administrator ran ``pg_terminate_backend``, ``idle_session_timeout``
passed. PostgreSQL then writes an error message and closes the socket, so an
idle connection with anything to read is dead (:func:`peer_closed`): the pool
closes it and hands out the next one, or none. That check is one ``poll()``
with no timeout, about 1 microsecond; a ``SELECT 1`` costs 30 microseconds of
CPU and a round trip (65 microseconds here), and only finds more when TCP
itself hangs, where it would hang too.
"""

from __future__ import annotations

import contextlib
import select
from collections import defaultdict
from time import monotonic
from typing import Any

from gevent.monkey import get_original

__all__ = ["MAX_IDLE", "ConnectionPool", "install", "peer_closed", "pool"]

MAX_IDLE = 30.0
# Attributes a backend's get_new_connection() sets on the wrapper, to restore
# along with a pooled connection.
_WRAPPER_STATE = ("isolation_level",)


# The standard library's poll, even in a patched process: a check that never waits
# must not yield to gevent's hub.
_poll = get_original("select", "poll")


def peer_closed(raw: Any) -> bool:
    """Tell whether the server ended an idle DB-API connection: it has input, or no socket.

    A connection without a socket (SQLite) is never taken for dead.
    """
    if getattr(raw, "closed", False):
        return True
    fileno = getattr(raw, "fileno", None)
    if fileno is None:
        return False
    try:
        fd = fileno()
    except Exception:  # noqa: BLE001 - psycopg2 and psycopg 3 each raise their own
        return True
    poller = _poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _in_transaction(raw: Any) -> bool:
    """Tell whether a DB-API connection has a transaction open (where we can tell)."""
    status = getattr(raw, "get_transaction_status", None)  # psycopg2
    if status is not None:
        return bool(status() != 0)
    info = getattr(raw, "info", None)  # psycopg 3
    if info is not None and hasattr(info, "transaction_status"):
        return int(info.transaction_status) != 0
    return bool(getattr(raw, "in_transaction", False))  # sqlite3


class ConnectionPool:
    """Idle DB-API connections per database alias; LIFO, bounded, aged out."""

    def __init__(self, size: int = 0) -> None:
        self.size = size
        self._idle: defaultdict[str, list[tuple[float, Any, dict[str, Any]]]] = defaultdict(list)

    def put(self, wrapper: Any) -> bool:
        """Park ``wrapper``'s connection if it is clean; return False to close it instead."""
        raw = wrapper.connection
        if (
            self.size <= 0
            or raw is None
            or getattr(wrapper, "pool", None) is not None
            or wrapper.in_atomic_block
            or wrapper.needs_rollback
            or wrapper.errors_occurred
            or not wrapper.autocommit
            or _in_transaction(raw)
        ):
            return False
        idle = self._idle[wrapper.alias]
        if len(idle) >= self.size:
            return False
        state = {
            name: wrapper.__dict__[name] for name in _WRAPPER_STATE if name in wrapper.__dict__
        }
        idle.append((monotonic(), raw, state))
        wrapper.connection = None
        wrapper.run_on_commit = []
        return True

    def take(self, wrapper: Any) -> Any:
        """Return a live parked connection for ``wrapper``'s alias, or None."""
        idle = self._idle.get(wrapper.alias)
        now = monotonic()
        while idle:
            since, raw, state = idle.pop()
            if now - since > MAX_IDLE or peer_closed(raw):
                _close(raw)
                continue
            wrapper.__dict__.update(state)
            return raw
        return None

    def prune(self, now: float) -> None:
        """Close connections parked for longer than MAX_IDLE."""
        for idle in self._idle.values():
            keep = [entry for entry in idle if now - entry[0] <= MAX_IDLE]
            for entry in idle:
                if now - entry[0] > MAX_IDLE:
                    _close(entry[1])
            idle[:] = keep

    def clear(self) -> None:
        """Close every parked connection."""
        for idle in self._idle.values():
            for _since, raw, _state in idle:
                _close(raw)
            idle.clear()

    def __len__(self) -> int:
        return sum(len(idle) for idle in self._idle.values())


def _close(raw: Any) -> None:
    # A dead connection is what we are discarding: its close() may fail too.
    with contextlib.suppress(Exception):
        raw.close()


#: The pool of this process; empty (size 0) until :func:`install` runs.
pool = ConnectionPool()


def install(size: int) -> None:
    """Route this process's new database connections through :data:`pool`."""
    from django.db import connections

    pool.size = size
    if size <= 0:
        return
    for alias in connections:
        cls = type(connections[alias])
        if getattr(cls.get_new_connection, "djws_pooled", False):
            continue
        original = cls.get_new_connection

        def get_new_connection(self: Any, conn_params: Any, _original: Any = original) -> Any:
            raw = pool.take(self)
            return raw if raw is not None else _original(self, conn_params)

        get_new_connection.djws_pooled = True  # type: ignore[attr-defined]
        cls.get_new_connection = get_new_connection  # type: ignore[method-assign]
