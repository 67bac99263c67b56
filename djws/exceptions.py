"""Exceptions raised by djws.

Exception tree::

    Exception
    ├── ConnectionClosed       send() on a closed WebSocket; says which close frames
    │                          were received and sent, in which order
    ├── HandshakeError         a malformed upgrade request; becomes an HTTP error
    └── BufferFull             a client read too slowly for a non-waiting send

``TimeoutError`` (the builtin) is raised by ``receive(timeout=...)`` when nothing
arrived in time.
"""

from __future__ import annotations

from collections.abc import Sequence

from websockets.frames import Close, CloseCode

__all__ = ["BufferFull", "ConnectionClosed", "HandshakeError"]


class ConnectionClosed(Exception):  # noqa: N818 - the name users know from websockets
    """The WebSocket is closed: nothing more can be sent on it.

    Like websockets' exception of the same name, it carries both sides of the
    closing handshake: :attr:`rcvd` and :attr:`sent` are the close frames
    (:class:`websockets.frames.Close`: ``code`` and ``reason``) received from
    and sent to the client, None where there was none, and
    :attr:`rcvd_then_sent` tells their order. Its message reads like
    ``received 1001 (going away); then sent 1001 (going away)``.
    """

    def __init__(
        self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None = None
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(str(self))

    def __str__(self) -> str:
        rcvd, sent = self.rcvd, self.sent
        if rcvd is None:
            return (
                "no close frame received or sent"
                if sent is None
                else (f"sent {sent}; no close frame received")
            )
        if sent is None:
            return f"received {rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {rcvd}; then sent {sent}"
        return f"sent {sent}; then received {rcvd}"

    @property
    def code(self) -> int:
        """The close code that ended the connection: the client's, else ours, else 1006."""
        close = self.rcvd or self.sent
        return close.code if close is not None else CloseCode.ABNORMAL_CLOSURE

    @property
    def reason(self) -> str:
        """The reason that came with :attr:`code` (``""`` if none)."""
        close = self.rcvd or self.sent
        return close.reason if close is not None else ""


class HandshakeError(Exception):
    """The client's opening handshake is invalid; answer with ``status`` and stop."""

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.status = status
        self.message = message
        self.headers = list(headers)
        super().__init__(f"{status} {message}")


class BufferFull(Exception):  # noqa: N818
    """A message could not be queued: the client is not reading fast enough."""
