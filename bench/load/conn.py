"""One client WebSocket connection (:class:`Conn`) and what a scenario does with its
events (:class:`Handler`); :mod:`load.engine` drives both and re-exports them.

A connection goes ``CONNECTING`` (TCP), ``HANDSHAKING`` (the HTTP upgrade),
``OPEN``, ``CLOSING`` (our close frame sent, waiting for the server's), ``CLOSED``.
"""

from __future__ import annotations

import socket
from typing import Any

from . import perf

CONNECTING, HANDSHAKING, OPEN, CLOSING, CLOSED = range(5)


class Conn:
    """One client WebSocket connection and its per-scenario bookkeeping."""

    __slots__ = (
        "closed_reason",
        "discard",
        "expect",
        "extra",
        "fast",
        "fd",
        "frag",
        "index",
        "messages",
        "path",
        "rbuf",
        "request",
        "sent_at",
        "sock",
        "started",
        "state",
        "state_since",
        "wbuf",
    )

    def __init__(self, sock: socket.socket, index: int, path: str, request: bytes) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.index = index
        self.path = path
        self.request = request
        self.state = CONNECTING
        self.started = perf()
        self.state_since = self.started
        self.rbuf = b""
        self.wbuf = b""
        self.frag: bytes | None = None
        self.fast: bytes | None = None  # a whole expected frame: the echo fast path
        self.discard = False  # count what arrives, keep its tail, parse nothing (the flooder)
        self.sent_at = 0.0
        self.messages = 0
        self.expect: Any = None
        self.extra: Any = None
        self.closed_reason: str | None = None


class Handler:
    """Scenario callbacks; the defaults do nothing."""

    def on_open(self, conn: Conn, now: float) -> None:
        """The server answered 101."""

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        """A whole text or binary message arrived."""

    def on_fast(self, conn: Conn, now: float) -> None:
        """Exactly ``conn.fast`` arrived in one read (the echo fast path)."""
        self.on_message(conn, b"", now)

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        """The connection is gone; ``error`` is None for a clean close."""
