"""Database connection hygiene for long-lived WebSocket views.

Under gevent every greenlet has its own Django connection. A WebSocket view
lives for minutes or hours, mostly waiting; holding a connection while waiting
would tie up one database backend per open socket (PostgreSQL's default of 100
is reached by the 101st socket). So djws releases a greenlet's connections
after the handshake and whenever its view has waited on the socket for
``WEBSOCKET_DB_RELEASE_DELAY`` seconds -- never inside ``atomic()``, where
closing would lose the transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

from .pool import pool

__all__ = ["ALL_DATABASES", "close_all", "connections_in_use", "release_connections"]


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


def connections_in_use() -> bool:
    """Tell whether this greenlet holds an open database connection."""
    return any(conn.connection is not None for conn in connections.all(initialized_only=True))


def release_connections() -> None:
    """Release this greenlet's connections, except those inside a transaction.

    A clean connection goes back to the worker's pool (:mod:`djws.pool`) for the
    next greenlet; anything else is closed.
    """
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        if conn.connection is not None and not pool.put(conn):
            conn.close()
        # The greenlet's DatabaseWrapper (features, ops, introspection...) would
        # otherwise live as long as the socket: several KiB per idle connection.
        # The next query in this greenlet builds a new one around a pooled connection.
        del connections[conn.alias]


def close_all(**kwargs: Any) -> None:
    """Close this greenlet's connections at the end of a request.

    Connected to ``request_finished`` in server processes. Django keeps a
    connection open for ``CONN_MAX_AGE`` so the *same thread* can reuse it;
    under gevent each request runs in a new greenlet that never comes back, so a
    kept connection would only leak.
    """
    release_connections()
