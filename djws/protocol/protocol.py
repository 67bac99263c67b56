"""One server-side WebSocket connection's protocol state, without any I/O.

:class:`ServerProtocol` is fed the bytes the client sent and returns the
messages they complete; what the server must write comes out of
:meth:`~ServerProtocol.data_to_send` (control frames) or is returned by
:meth:`~ServerProtocol.send_message` (data frames). It answers pings, runs the
closing handshake, fails the connection on a violation with the right close
code (RFC 6455, 7.4), and decides keepalive pings and timeouts. It is modelled
on the sans-I/O ``Protocol`` of the ``websockets`` library, with two
differences that the connection layer relies on:

* **Order.** Messages that arrived before a close frame or a protocol violation
  are handed over first. The close is answered, or the connection failed, by
  :meth:`~ServerProtocol.end`, which the I/O layer calls once the application
  has taken those messages (:attr:`~ServerProtocol.end_pending` says when).
* **Two kinds of output.** A data frame is returned to the caller, who writes
  it with back-pressure (a view's ``send()`` waits for a slow client, a
  broadcast does not). Control frames -- pongs, pings, close frames -- are
  queued in :meth:`~ServerProtocol.data_to_send` and must be written at once,
  past any buffer limit: they are small and must reach even a slow reader.
  An empty ``bytes`` in that list means "shut down the write side of TCP": the
  server closes the TCP connection first once both close frames are out (RFC
  6455, 7.1.1), and at once when it fails the connection (7.1.7).

States::

    OPEN ──send_close / fail / end()──▶ CLOSING ──connection_lost()──▶ CLOSED

Once the state is not OPEN, nothing more can be sent; :attr:`close_code` and
:attr:`close_reason` say why (1006 when TCP dropped without a close frame).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING

from websockets.frames import Close, CloseCode

from ..exceptions import ConnectionClosed
from .frames import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    encode_close,
    encode_compressed,
    encode_frame,
    valid_close_code,
)
from .parser import Parser

if TYPE_CHECKING:
    from websockets.extensions.permessage_deflate import PerMessageDeflate

__all__ = ["MAX_REASON_BYTES", "ServerProtocol", "State"]

#: A close frame's payload is at most 125 bytes: the code takes 2.
MAX_REASON_BYTES = 123


class State(enum.IntEnum):
    """Where a connection is in its life (after the opening handshake)."""

    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class ServerProtocol:
    """The protocol state of one accepted connection; feed it bytes, write what it says."""

    __slots__ = (
        "__weakref__",
        "_clock",
        "_ended",
        "_output",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "deflate",
        "last_message",
        "last_received",
        "parser",
        "ping_sent_at",
        "state",
    )

    def __init__(
        self,
        *,
        max_message_size: int | None = None,
        max_frame_size: int | None = None,
        deflate: PerMessageDeflate | None = None,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.parser = Parser(
            max_message_size=max_message_size,
            max_frame_size=max_message_size if max_frame_size is None else max_frame_size,
            deflate=deflate,
        )
        self.deflate = deflate
        self.state = State.OPEN
        #: The client's close frame, once acted on; the one sent; their order.
        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        self._output: list[bytes] = []
        self._ended = False
        self._clock = clock
        #: Clock time of the last bytes received, and of the last message.
        self.last_received = self.last_message = clock()
        #: Clock time of an unanswered keepalive ping, or None.
        self.ping_sent_at: float | None = None

    # Receiving

    def receive_data(self, data: bytes) -> list[str | bytes]:
        """Parse bytes from the client; return the messages they complete, oldest first.

        Pings are answered (a pong is queued); after our close frame, messages are
        discarded (RFC 6455, 1.4). A close frame or a violation stops parsing and
        sets :attr:`end_pending`.
        """
        if self.state is State.CLOSED:
            return []
        parser = self.parser
        messages = parser.feed(data)
        self.last_received = now = self._clock()
        self.ping_sent_at = None
        if self.close_sent is not None:
            messages = []
        elif messages:
            self.last_message = now
        if parser.pings:
            if self.close_sent is None:
                self._output.extend(encode_frame(OP_PONG, payload) for payload in parser.pings)
            parser.pings.clear()
        return messages

    @property
    def end_pending(self) -> bool:
        """True when a close frame or a violation arrived and :meth:`end` has not run."""
        return self.parser.done and not self._ended

    def end(self) -> None:
        """Answer the client's close frame, or fail the connection on its violation.

        Call it once the application has taken the messages received before.
        """
        if not self.end_pending:
            return
        self._ended = True
        parser = self.parser
        if parser.close is not None:
            code, reason, payload = parser.close
            self.close_rcvd = Close(code, reason)
            if self.close_sent is None:
                # Echo the client's code and reason (RFC 6455, 5.5.1).
                self.close_sent = Close(code, reason)
                self.close_rcvd_then_sent = True
                self._output.append(encode_frame(OP_CLOSE, payload))
            elif self.close_rcvd_then_sent is None:
                self.close_rcvd_then_sent = False
            self._shutdown()
        elif parser.error is not None:
            self.fail(*parser.error)

    def connection_lost(self) -> None:
        """Record that the TCP connection is closed, whoever closed it."""
        self.state = State.CLOSED

    # Sending

    def send_message(self, opcode: int, payload: bytes, frame: bytes | None = None) -> bytes:
        """Return the frame carrying a text or binary message; the caller writes it.

        ``frame`` is the message already framed (uncompressed), shared by the
        recipients of a broadcast; a compressed connection frames its own.
        Raise :class:`~djws.exceptions.ConnectionClosed` unless the state is OPEN.
        """
        if self.state is not State.OPEN:
            raise self.closed_error()
        if self.deflate is not None:
            return encode_compressed(self.deflate, opcode, payload)
        return frame or encode_frame(opcode, payload)

    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping (while OPEN): the client's pong counts as activity."""
        if self.state is State.OPEN:
            self._output.append(encode_frame(OP_PING, data))

    def send_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason``.

        If the client's close frame or violation is pending, that is answered
        instead: the client was first. Raise ValueError for a code that may not
        be sent (RFC 6455, 7.4) or a reason over 123 bytes of UTF-8.
        """
        if len(reason.encode()) > MAX_REASON_BYTES:
            raise ValueError(f"a close reason is at most {MAX_REASON_BYTES} bytes of UTF-8")
        if not valid_close_code(code):
            raise ValueError(
                f"{code} cannot be sent in a close frame: use 1000-1003, 1007-1014 or 3000-4999"
            )
        self.end()
        if self.state is State.OPEN:
            self.close_sent = Close(code, reason)
            self._output.append(encode_close(code, reason))
            self.state = State.CLOSING

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455, 7.1.7): a close frame if none was sent, then EOF."""
        if self.state is State.CLOSED:
            return
        if self.close_sent is None:
            self.close_sent = Close(code, reason)
            self._output.append(encode_close(code, reason))
        self._shutdown()

    def _shutdown(self) -> None:
        self.state = max(self.state, State.CLOSING)
        self._output.append(b"")

    def data_to_send(self) -> list[bytes]:
        """Return the control frames to write now, oldest first; ``b""`` means EOF."""
        output, self._output = self._output, []
        return output

    @property
    def has_output(self) -> bool:
        """True when :meth:`data_to_send` has something."""
        return bool(self._output)

    # Keepalive

    def tick(
        self,
        now: float,
        *,
        ping_interval: float | None,
        ping_timeout: float | None,
        idle_timeout: float | None,
    ) -> None:
        """Decide keepalive at clock time ``now``: ping, time out, or close an idle client.

        A client silent for ``ping_interval`` gets a ping; one that then stays
        silent for ``ping_timeout`` is failed with 1011. One that sent no
        *message* (control frames do not count) for ``idle_timeout`` is closed
        with 1000.
        """
        if self.state is not State.OPEN:
            return
        if idle_timeout is not None and now - self.last_message >= idle_timeout:
            self.send_close(CloseCode.NORMAL_CLOSURE, "idle timeout")
        elif self.ping_sent_at is not None:
            if ping_timeout is not None and now - self.ping_sent_at >= ping_timeout:
                self.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        elif ping_interval is not None and now - self.last_received >= ping_interval:
            self.send_ping()
            self.ping_sent_at = now

    def due(
        self,
        *,
        ping_interval: float | None,
        ping_timeout: float | None,
        idle_timeout: float | None,
    ) -> float:
        """The clock time before which :meth:`tick` has nothing to do (infinity: never).

        That is the earliest of the idle timeout and, while a ping awaits its pong,
        the ping timeout, else the next ping. Bytes received meanwhile only put
        it off: a tick at this time decides again.
        """
        if self.state is not State.OPEN:
            return math.inf
        due = math.inf if idle_timeout is None else self.last_message + idle_timeout
        if self.ping_sent_at is not None:
            if ping_timeout is not None:
                due = min(due, self.ping_sent_at + ping_timeout)
        elif ping_interval is not None:
            due = min(due, self.last_received + ping_interval)
        return due

    # Outcome

    @property
    def close_code(self) -> int | None:
        """The client's close code if it sent one, else ours; 1006 if TCP dropped first.

        1005 stands for a close frame without a code; None while OPEN.
        """
        close = self.close_rcvd or self.close_sent
        if close is not None:
            return close.code
        return CloseCode.ABNORMAL_CLOSURE if self.state is State.CLOSED else None

    @property
    def close_reason(self) -> str | None:
        """The reason that came with :attr:`close_code` (``""`` if none)."""
        close = self.close_rcvd or self.close_sent
        if close is not None:
            return close.reason
        return "" if self.state is State.CLOSED else None

    def closed_error(self) -> ConnectionClosed:
        """The exception telling what ended the connection."""
        return ConnectionClosed(self.close_rcvd, self.close_sent, self.close_rcvd_then_sent)
