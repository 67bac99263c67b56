"""Database connection hygiene for long-lived WebSocket views.

Under gevent every greenlet has its own Django connection. A WebSocket view
lives for minutes or hours, mostly waiting; holding a connection while waiting
would tie up one database backend per open socket (PostgreSQL's default of 100
is reached by the 101st socket). So djws releases a greenlet's connections
after the handshake and whenever its view has waited on the socket for
``WEBSOCKET_DB_RELEASE_DELAY`` seconds -- never inside ``atomic()``, where
closing would lose the transaction.

And a connection a view holds may die under it while it waits (a database
failover, ``pg_terminate_backend``): :func:`install` makes every connection
check itself before use, outside transactions, so the view's next query runs
on a new connection instead of failing -- and so does the query after one that
failed because the connection broke.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.db import connections
from django.db.backends.signals import connection_created

from .pool import peer_closed, pool

__all__ = [
    "ALL_DATABASES",
    "close_all",
    "connections_in_use",
    "install",
    "release_connections",
]


class _AllDatabases:
    """A container holding every database alias, whatever DATABASES says.

    Django consults ``view._non_atomic_requests`` with ``alias in ...``; a
    WebSocket view must never run inside ATOMIC_REQUESTS' transaction, which
    would stay open for the life of the socket.
    """

    def __contains__(self, alias: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL_DATABASES"


ALL_DATABASES = _AllDatabases()


#: True once Django opened a connection in this greenlet (each greenlet has its
#: own context; ``connection_created`` is sent for every connection, pooled or
#: not), until a look finds none open. A greenlet in which it is False holds
#: none and is not looked at: a view asks each time it waits for a message, and
#: after every handshake, and looking goes through asgiref's ``Local`` once per
#: alias (``connections.all()``): without this, echo did 31 % fewer messages per
#: CPU-second.
_connected: ContextVar[bool] = ContextVar("djws_db_connected", default=False)


def _opened(**kwargs: Any) -> None:
    _connected.set(True)


connection_created.connect(_opened, dispatch_uid="djws.db.opened")


def connections_in_use() -> bool:
    """Tell whether this greenlet holds an open database connection."""
    if not _connected.get():
        return False
    in_use = any(conn.connection is not None for conn in connections.all(initialized_only=True))
    _connected.set(in_use)
    return in_use


def release_connections() -> None:
    """Release this greenlet's connections, except those inside a transaction.

    A clean connection goes back to the worker's pool (:mod:`djws.pool`) for the
    next greenlet; anything else is closed. A greenlet that opened none since
    the last release has nothing to release.
    """
    if not _connected.get():
        return
    in_transaction = False
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            in_transaction = True
            continue
        if conn.connection is not None and not pool.put(conn):
            conn.close()
        # The greenlet's DatabaseWrapper (features, ops, introspection...) would
        # otherwise live as long as the socket: several KiB per idle connection.
        # The next query in this greenlet builds a new one around a pooled connection.
        del connections[conn.alias]
    _connected.set(in_transaction)


def close_all(**kwargs: Any) -> None:
    """Close this greenlet's connections at the end of a request.

    Connected to ``request_finished`` in server processes. Django keeps a
    connection open for ``CONN_MAX_AGE`` so the *same thread* can reuse it;
    under gevent each request runs in a new greenlet that never comes back, so a
    kept connection would only leak.
    """
    release_connections()


def install() -> None:
    """Make this process's database connections replace themselves once dead.

    Wraps each backend's ``ensure_connection``, which Django calls before every
    cursor and transaction: in autocommit mode and outside ``atomic()``, a
    connection that has had an error (``errors_occurred``) or has input while
    idle (:func:`djws.pool.peer_closed`, one ``poll()``) must pass Django's
    ``is_usable()`` (``SELECT 1``), or it is closed and a new one opened.
    Django itself checks only between requests (``CONN_HEALTH_CHECKS``), and a
    WebSocket view is one request that lasts hours.
    """
    for alias in connections:
        cls = type(connections[alias])
        if getattr(cls.ensure_connection, "djws_checked", False):
            continue
        original = cls.ensure_connection

        def ensure_connection(self: Any, _original: Any = original) -> None:
            if (
                self.connection is not None
                and self.autocommit  # a transaction of the view's own is the view's to end
                and not self.in_atomic_block
                and (self.errors_occurred or peer_closed(self.connection))
            ):
                if self.is_usable():
                    self.errors_occurred = False
                else:
                    self.close()
            _original(self)

        ensure_connection.djws_checked = True  # type: ignore[attr-defined]
        cls.ensure_connection = ensure_connection  # type: ignore[method-assign]
