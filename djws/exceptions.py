"""Exceptions raised by djws.

Exception tree::

    Exception
    ├── ConnectionClosed       send() on a closed WebSocket; carries code and reason
    ├── HandshakeError         a malformed upgrade request; becomes an HTTP error
    └── BufferFull             a client read too slowly for a non-waiting send

``TimeoutError`` (the builtin) is raised by ``receive(timeout=...)`` when nothing
arrived in time.
"""

from __future__ import annotations

__all__ = ["BufferFull", "ConnectionClosed", "HandshakeError"]


class ConnectionClosed(Exception):  # noqa: N818 - the name users know from websockets
    """The WebSocket is closed: nothing more can be sent on it."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"WebSocket closed with code {code}" + (f" ({reason})" if reason else ""))


class HandshakeError(Exception):
    """The client's opening handshake is invalid; answer with ``status`` and stop."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] = ()) -> None:
        self.status = status
        self.message = message
        self.headers = list(headers)
        super().__init__(f"{status} {message}")


class BufferFull(Exception):  # noqa: N818
    """A message could not be queued: the client is not reading fast enough."""
