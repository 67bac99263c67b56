"""The ``ws`` object a view receives: one accepted WebSocket connection.

Frames are parsed and built by the sans-I/O protocol of the ``websockets``
library (RFC 6455 and the permessage-deflate extension of RFC 7692); bytes move
through :class:`~djws.transport.Transport`. This module turns frames into
messages (``str`` for text, ``bytes`` for binary), validates UTF-8 as fragments
arrive, and runs the closing handshake.

The greenlet that accepted the connection -- the view's -- is the only one that
reads the socket. Any greenlet may send, close, or :meth:`~WebSocket.deliver`
an item to the view; such calls never block on the socket's reader.
"""

from __future__ import annotations

import codecs
import json
from collections import deque
from collections.abc import Iterator
from time import monotonic
from typing import TYPE_CHECKING, Any

from gevent import getcurrent
from gevent.hub import get_hub
from websockets.exceptions import ProtocolError
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.protocol import OPEN, Protocol

from . import db
from .exceptions import BufferFull, ConnectionClosed
from .frames import OP_BINARY, OP_TEXT, encode_frame

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .transport import Transport

__all__ = ["CloseCode", "WebSocket", "open_connections"]

#: Every open connection of this process, for shutdown, keepalive and targeting.
open_connections: set[WebSocket] = set()

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class WebSocket:
    """An open WebSocket connection, used from a synchronous view.

    Typical use::

        for message in ws:      # str for text frames, bytes for binary ones
            ws.send(message)
    """

    def __init__(
        self,
        transport: Transport,
        protocol: Protocol,
        *,
        request: HttpRequest | None = None,
        subprotocol: str | None = None,
        close_timeout: float = 5.0,
        db_release_delay: float | None = 1.0,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        #: The Django request that opened this connection.
        self.request = request
        #: The subprotocol chosen during the handshake, or None.
        self.subprotocol = subprotocol
        self._close_timeout = close_timeout
        self._db_release_delay = db_release_delay
        self._owner = getcurrent()
        self._ready: deque[Any] = deque()
        self._fragments: list[Any] | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._close_timer: Any = None
        #: monotonic() time of the last bytes received, and of the last message.
        self.last_received = self.last_message = monotonic()
        #: monotonic() time of an unanswered keepalive ping, or None.
        self.ping_sent_at: float | None = None

    # Receiving

    def receive(self, timeout: float | None = None) -> Any:
        """Return the next message: ``str`` (text), ``bytes`` (binary), or a delivered item.

        Return None once the connection is closed. Raise ``TimeoutError`` if
        ``timeout`` seconds pass without anything arriving.
        """
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._protocol.state is not OPEN or self._transport.closed:
                return None
            wait = None if deadline is None else deadline - monotonic()
            if wait is not None and wait <= 0:
                raise TimeoutError(f"no message within {timeout} seconds")
            holding = self._db_release_delay is not None and db.connections_in_use()
            if holding and (wait is None or wait > self._db_release_delay):
                wait = self._db_release_delay
            data = self._transport.recv(wait)
            if data is None:
                if holding and not self._ready:
                    db.release_connections()
                continue
            self._receive_data(data)

    def __iter__(self) -> Iterator[Any]:
        """Iterate over messages until the connection closes."""
        while (message := self.receive()) is not None:
            yield message

    def receive_json(self, timeout: float | None = None) -> Any:
        """Receive a text message and decode it as JSON (None once closed)."""
        message = self.receive(timeout)
        if message is None:
            return None
        if not isinstance(message, (str, bytes)):
            raise TypeError(f"expected a message from the client, got {message!r}")
        return json.loads(message)

    def deliver(self, item: Any) -> None:
        """Hand ``item`` to the view: its next ``receive()`` returns it, in order.

        Safe to call from any greenlet of the process; this is how a view waits
        on its socket and on other sources at once without losing a message.
        """
        self._ready.append(item)
        self._transport.wake()

    def _receive_data(self, data: bytes) -> None:
        protocol = self._protocol
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        self.last_received = monotonic()
        self.ping_sent_at = None
        for frame in protocol.events_received():
            if not self._receive_frame(frame):
                break
        self._send_protocol_output(wait=False)

    def _receive_frame(self, frame: Frame) -> bool:
        """Assemble messages from frames; return False when the connection failed."""
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self.last_message = self.last_received
            if frame.fin:
                if opcode is Opcode.BINARY:
                    self._ready.append(bytes(frame.data))
                    return True
                try:
                    self._ready.append(bytes(frame.data).decode())
                except UnicodeDecodeError as exc:
                    return self._fail(CloseCode.INVALID_DATA, f"invalid UTF-8: {exc.reason}")
                return True
            self._fragments = []
            self._decoder = _utf8_decoder() if opcode is Opcode.TEXT else None
        elif opcode is not Opcode.CONT:
            return True  # control frames: the protocol answered pings and closes
        assert self._fragments is not None
        if self._decoder is None:
            self._fragments.append(frame.data)
        else:
            try:
                self._fragments.append(self._decoder.decode(frame.data, frame.fin))
            except UnicodeDecodeError as exc:
                return self._fail(CloseCode.INVALID_DATA, f"invalid UTF-8: {exc.reason}")
        if frame.fin:
            if self._decoder is None:
                self._ready.append(b"".join(self._fragments))
            else:
                self._ready.append("".join(self._fragments))
            self._fragments = self._decoder = None
        return True

    # Sending

    def send(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message.

        Waits while the client has a full buffer of unread data. Raise
        :class:`~djws.exceptions.ConnectionClosed` if the connection is closed.
        """
        if isinstance(message, str):
            self._send(OP_TEXT, message.encode(), wait=True)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._send(OP_BINARY, bytes(message), wait=True)
        else:
            raise TypeError(
                f"send() takes str or bytes, not {type(message).__name__}; "
                "use send_json() for other objects"
            )

    def send_json(self, obj: Any, **dumps_kwargs: Any) -> None:
        """Send ``obj`` encoded as JSON in a text message."""
        self.send(json.dumps(obj, **dumps_kwargs))

    def send_nowait(self, opcode: int, payload: bytes, frame: bytes | None = None) -> bool:
        """Queue a message without waiting; used for broadcasts.

        ``frame`` is the message already encoded (uncompressed), shared by all
        recipients. A client that lets too much pile up is closed with 1008;
        return False if the message was not queued.
        """
        if self.closed:
            return False
        try:
            self._send(opcode, payload, wait=False, frame=frame)
        except BufferFull:
            self._fail(CloseCode.POLICY_VIOLATION, "client too slow: send buffer full")
            return False
        except (ConnectionClosed, OSError):
            return False
        return True

    def _send(self, opcode: int, payload: bytes, *, wait: bool, frame: bytes | None = None) -> None:
        protocol = self._protocol
        if protocol.state is not OPEN or self._transport.closed:
            raise ConnectionClosed(self.close_code, self.close_reason or "")
        if protocol.extensions:
            if opcode == OP_TEXT:
                protocol.send_text(payload)
            else:
                protocol.send_binary(payload)
            self._send_protocol_output(wait=wait)
            return
        try:
            self._transport.write(frame or encode_frame(opcode, payload), wait=wait)
        except OSError as exc:
            raise ConnectionClosed(CloseCode.ABNORMAL_CLOSURE, "connection lost") from exc

    def ping(self, data: bytes = b"") -> None:
        """Send a ping; the client's pong counts as activity."""
        if not self.closed:
            self._protocol.send_ping(data)
            self._send_protocol_output(wait=False)

    def _send_protocol_output(self, *, wait: bool) -> None:
        transport = self._transport
        for data in self._protocol.data_to_send():
            if transport.closed:
                return
            if not data:  # the protocol's end-of-stream marker: half-close
                transport.shutdown_write()
                continue
            try:
                transport.write(data, wait=wait)
            except BufferFull:
                transport.abort()
            except OSError:
                return

    # Closing

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the TCP connection dropped."""
        return self._protocol.state is not OPEN or self._transport.closed

    @property
    def close_code(self) -> int | None:
        """The close code: the client's if it sent one, else ours; 1006 if TCP dropped."""
        close = self._protocol.close_rcvd or self._protocol.close_sent
        if close is not None:
            return close.code
        return CloseCode.ABNORMAL_CLOSURE if self._transport.closed else None

    @property
    def close_reason(self) -> str | None:
        """The reason that came with :attr:`close_code` (``""`` if none)."""
        close = self._protocol.close_rcvd or self._protocol.close_sent
        if close is not None:
            return close.reason
        return "" if self._transport.closed else None

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason``.

        Called from the view, wait (up to ``WEBSOCKET_CLOSE_TIMEOUT``) for the
        client to answer; from another greenlet, return at once: the view's next
        ``receive()`` returns None.
        """
        if len(reason.encode()) > 123:
            raise ValueError("a close reason is at most 123 bytes of UTF-8")
        try:
            Close(code, reason).check()
        except ProtocolError as exc:
            raise ValueError(f"{code} cannot be sent in a close frame: {exc}") from None
        if self._protocol.state is OPEN and not self._transport.closed:
            self._protocol.send_close(code, reason)
            self._send_protocol_output(wait=False)
            self._start_close_timer()
        if getcurrent() is self._owner:
            self.wait_closed()
        else:
            self._transport.wake()

    def _fail(self, code: int, reason: str) -> bool:
        """Close because the client broke the rules; return False for convenience."""
        if self._protocol.state is OPEN:
            self._protocol.fail(code, reason)
            self._send_protocol_output(wait=False)
            self._start_close_timer()
        self._ready.clear()
        self._transport.wake()
        return False

    def _start_close_timer(self) -> None:
        if self._close_timer is None:
            self._close_timer = get_hub().loop.timer(self._close_timeout)
            self._close_timer.start(self._transport.abort)

    def wait_closed(self) -> None:
        """Read and discard until the client has closed the TCP connection."""
        self._ready.clear()
        if self._protocol.state is OPEN and not self._transport.closed:
            self.close()
            return
        self._start_close_timer()
        while not self._transport.closed:
            data = self._transport.recv()
            if data is None:
                continue
            try:
                self._receive_data(data)
            except (EOFError, ProtocolError):
                break
            if not data:
                break
        self._transport.close()

    def finish(self) -> None:
        """Close with 1000 if still open, complete the handshake, free resources."""
        try:
            if not self._transport.closed:
                self.close()
        finally:
            self._transport.close()
            if self._close_timer is not None:
                self._close_timer.close()
            open_connections.discard(self)

    def __repr__(self) -> str:
        path = getattr(self.request, "path", "?")
        state = "closed" if self.closed else "open"
        return f"<WebSocket {path} {state}>"
