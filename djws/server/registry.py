"""The open connections of this process, and whether it is stopping.

One :data:`registry` per process owns this state. A connection enters it when
it is accepted and leaves it when its view has finished
(:mod:`djws.connection`); the worker reads it to ping silent clients
(:mod:`.keepalive`) and to say "going away" to every client when it stops
(:mod:`djws.worker`), and the handler reads :attr:`Registry.stopping` to refuse
new handshakes with 503 meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from gevent import getcurrent

__all__ = ["Connection", "Registry", "registry"]


class Connection(Protocol):
    """What the server needs of an open connection (:class:`djws.connection.WebSocket`)."""

    @property
    def closed(self) -> bool: ...
    @property
    def tick_due(self) -> float: ...
    def close(self, code: int = ..., reason: str = ...) -> None: ...
    def tick(
        self,
        now: float,
        *,
        ping_interval: float | None,
        ping_timeout: float | None,
        idle_timeout: float | None,
    ) -> None: ...


class Registry:
    """The accepted, unfinished connections of one process, and its lifecycle flags."""

    def __init__(self) -> None:
        self._connections: set[Connection] = set()
        #: Set when the worker starts its shutdown: new handshakes get 503, and a
        #: connection accepted meanwhile is closed with 1001 at once, so clients
        #: that reconnect as soon as they are told to go away cannot hold it up.
        self.stopping = False
        # Greenlets of connections that have not sent their request line yet.
        self._waiting: set[Any] = set()

    def add(self, ws: Connection) -> None:
        """Record a newly accepted connection."""
        self._connections.add(ws)

    def discard(self, ws: Connection) -> None:
        """Forget a connection whose view has finished."""
        self._connections.discard(ws)

    @contextmanager
    def waiting_for_request(self) -> Iterator[None]:
        """Mark the current greenlet as waiting for a request line while the block runs."""
        greenlet = getcurrent()
        self._waiting.add(greenlet)
        try:
            yield
        finally:
            self._waiting.discard(greenlet)

    def drop_waiting(self) -> int:
        """Kill the greenlets still waiting for a request line; return how many.

        At shutdown: a client that opened TCP and sent nothing would otherwise
        hold the worker for the whole handshake timeout.
        """
        waiting = list(self._waiting)
        for greenlet in waiting:
            greenlet.kill(block=False)
        return len(waiting)

    def snapshot(self) -> list[Connection]:
        """The open connections now, as a list safe to iterate while they change."""
        return list(self._connections)

    def __iter__(self) -> Iterator[Connection]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self._connections)


#: This process's registry.
registry = Registry()
