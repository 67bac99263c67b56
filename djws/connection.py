"""The ``ws`` object a view receives: one accepted WebSocket connection.

Frames are parsed and built by :mod:`djws.frames` (RFC 6455, and RFC 7692's
permessage-deflate through the ``websockets`` library); bytes move through
:class:`~djws.transport.Transport`. This module runs the connection: it answers
pings, hands messages (``str`` for text, ``bytes`` for binary) to the view, and
runs the closing handshake with the right close code.

Events are handled in the order the client sent them: when one read brings
messages followed by a close frame or a protocol violation, the view still gets
those messages (and may answer them) before the close is answered or the
connection is failed. Failing happens as soon as the view has taken the
messages that came first.

The greenlet that accepted the connection -- the view's -- is the only one that
reads the socket. Any greenlet may send, close, or :meth:`~WebSocket.deliver`
an item to the view; such calls never block on the socket's reader.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import Iterator
from time import monotonic
from typing import TYPE_CHECKING, Any

from gevent import getcurrent
from gevent.hub import get_hub
from websockets.frames import CloseCode

from . import db
from .exceptions import BufferFull, ConnectionClosed
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Parser,
    encode_close,
    encode_compressed,
    encode_frame,
    valid_close_code,
)

if TYPE_CHECKING:
    from django.http import HttpRequest
    from websockets.extensions.permessage_deflate import PerMessageDeflate

    from .transport import Transport

__all__ = ["CloseCode", "WebSocket", "open_connections"]

#: Every open connection of this process, for shutdown, keepalive and targeting.
open_connections: set[WebSocket] = set()


class _Lifecycle:
    """Whether this process is stopping: set when the worker starts its shutdown."""

    stopping = False


#: Once ``lifecycle.stopping`` is set, new handshakes get 503 and a connection
#: accepted meanwhile is closed with 1001 at once, so shutdown is not held up by
#: clients that reconnect as soon as they are told the server is going away.
lifecycle = _Lifecycle()


class WebSocket:
    """An open WebSocket connection, used from a synchronous view.

    Typical use::

        for message in ws:      # str for text frames, bytes for binary ones
            ws.send(message)
    """

    def __init__(
        self,
        transport: Transport,
        parser: Parser,
        *,
        deflate: PerMessageDeflate | None = None,
        request: HttpRequest | None = None,
        subprotocol: str | None = None,
        close_timeout: float = 5.0,
        db_release_delay: float | None = 1.0,
    ) -> None:
        self._transport = transport
        self._parser = parser
        self._deflate = deflate
        #: The Django request that opened this connection.
        self.request = request
        #: The subprotocol chosen during the handshake, or None.
        self.subprotocol = subprotocol
        self._close_timeout = close_timeout
        self._db_release_delay = db_release_delay
        self._owner = getcurrent()
        self._ready: deque[Any] = deque()
        # (code, reason) of the close frames sent and received; code None: sent empty.
        self._close_sent: tuple[int | None, str] | None = None
        self._close_rcvd: tuple[int, str] | None = None
        self._ended = False  # the parser's close or error has been acted on
        self._close_timer: Any = None
        #: monotonic() time of the last bytes received, and of the last message.
        self.last_received = self.last_message = monotonic()
        #: monotonic() time of an unanswered keepalive ping, or None.
        self.ping_sent_at: float | None = None
        # Groups joined, user and session (djws.broadcast.hub.Member), or None.
        self._broadcast: Any = None
        if request is not None:
            from .broadcast.hub import hub

            hub.open(self)

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
            if self._parser.done and not self._ended:
                self._end()  # the messages sent before the close or error are all taken
            if self.closed:
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
        if not data:  # end of stream without a closing handshake: 1006
            self._transport.abort()
            return
        parser = self._parser
        messages = parser.feed(data)
        self.last_received = monotonic()
        self.ping_sent_at = None
        if messages and self._close_sent is None:  # after our close, data is discarded
            self.last_message = self.last_received
            self._ready.extend(messages)
        if parser.pings:
            if self._close_sent is None:
                for payload in parser.pings:
                    self._write_control(encode_frame(OP_PONG, payload))
            parser.pings.clear()
        if parser.done and not self._ready:
            self._end()

    def pump(self) -> None:
        """Take in what the client sent while the view is busy elsewhere.

        The keepalive loop calls this for a view that is not waiting in
        ``receive()`` -- one that only sends, or is slow between messages -- so
        the client's pongs are seen and pings answered, and a live client is
        not mistaken for a dead one. Messages wait for the view's next
        ``receive()``. Never blocks; a no-op while the view itself is reading.
        """
        if self._transport.reading or self._transport.closed or self._parser.done:
            return
        data = self._transport.recv_nowait()
        if data is not None:
            self._receive_data(data)

    def _end(self) -> None:
        """Act on the client's close frame, or fail the connection on its violation."""
        self._ended = True
        parser = self._parser
        if parser.close is not None:
            code, reason, payload = parser.close
            self._close_rcvd = (code, reason)
            if self._close_sent is None:
                # Echo the client's code and reason (RFC 6455, 5.5.1).
                self._close_sent = (code if payload else None, reason)
                self._write_control(encode_frame(OP_CLOSE, payload))
            # Both close frames are out: the server closes TCP first (RFC 6455, 7.1.1).
            self._transport.shutdown_write()
            self._start_close_timer()
        elif parser.error is not None:
            self._fail(*parser.error)

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
        if self._close_sent is not None or self._close_rcvd is not None or self._transport.closed:
            raise ConnectionClosed(self.close_code, self.close_reason or "")
        if self._deflate is not None:
            data = encode_compressed(self._deflate, opcode, payload)
        else:
            data = frame or encode_frame(opcode, payload)
        try:
            self._transport.write(data, wait=wait)
        except OSError as exc:
            raise ConnectionClosed(CloseCode.ABNORMAL_CLOSURE, "connection lost") from exc

    def ping(self, data: bytes = b"") -> None:
        """Send a ping; the client's pong counts as activity."""
        if not self.closed:
            self._write_control(encode_frame(OP_PING, data))

    def _write_control(self, frame: bytes) -> None:
        """Write a control frame now, past the buffer limit: it is small and must go out."""
        # OSError: the connection is gone; closed and close_code say so.
        with contextlib.suppress(OSError):
            self._transport.write(frame, wait=False, force=True)

    # Closing

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the TCP connection dropped."""
        return (
            self._close_sent is not None
            or self._close_rcvd is not None
            or self._transport.closed
        )

    @property
    def close_code(self) -> int | None:
        """The close code: the client's if it sent one, else ours; 1006 if TCP dropped.

        1005 stands for a close frame without a code.
        """
        if self._close_rcvd is not None:
            return self._close_rcvd[0]
        if self._close_sent is not None:
            code = self._close_sent[0]
            return CloseCode.NO_STATUS_RCVD if code is None else code
        return CloseCode.ABNORMAL_CLOSURE if self._transport.closed else None

    @property
    def close_reason(self) -> str | None:
        """The reason that came with :attr:`close_code` (``""`` if none)."""
        close = self._close_rcvd or self._close_sent
        if close is not None:
            return close[1]
        return "" if self._transport.closed else None

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason``.

        Called from the view, wait (up to ``WEBSOCKET_CLOSE_TIMEOUT``) for the
        client to answer; from another greenlet, return at once: the view's next
        ``receive()`` returns None.
        """
        if len(reason.encode()) > 123:
            raise ValueError("a close reason is at most 123 bytes of UTF-8")
        if not valid_close_code(code):
            raise ValueError(
                f"{code} cannot be sent in a close frame: use 1000-1003, 1007-1014 or 3000-4999"
            )
        if self._parser.done and not self._ended:
            self._end()  # the client closed or failed first: answer that
        if not self.closed:
            self._close_sent = (code, reason)
            self._write_control(encode_close(code, reason))
            self._start_close_timer()
        if getcurrent() is self._owner:
            self.wait_closed()
        else:
            self._transport.wake()

    def _fail(self, code: int, reason: str) -> bool:
        """Fail the connection (RFC 6455, 7.1.7): close frame, then close TCP; return False."""
        if self._close_sent is None and not self._transport.closed:
            self._close_sent = (code, reason)
            self._write_control(encode_close(code, reason))
        self._transport.shutdown_write()
        self._start_close_timer()
        self._transport.wake()
        return False

    def _start_close_timer(self) -> None:
        if self._close_timer is None:
            self._close_timer = get_hub().loop.timer(self._close_timeout)
            self._close_timer.start(self._transport.abort)

    def wait_closed(self) -> None:
        """Read and discard until the client has closed the TCP connection."""
        self._ready.clear()
        if not self.closed:
            self.close()
            return
        if self._parser.done and not self._ended:
            self._end()
        self._start_close_timer()
        transport = self._transport
        while not transport.closed:
            data = transport.recv()
            if data is None:
                continue
            if not data:
                break
            self._receive_data(data)
            self._ready.clear()
        transport.close()

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
            if self._broadcast is not None:
                from .broadcast.hub import hub

                hub.forget(self)

    # Groups (djws.broadcast)

    def join(self, group: str, *, forward: bool = True) -> None:
        """Receive what is published to ``group``, from any process, until leaving it.

        With ``forward`` (the default) messages go straight to the client, framed
        once for all recipients and queued without waiting (a client too slow to
        read them is closed with 1008). With ``forward=False`` they come out of
        :meth:`receive` as :class:`djws.broadcast.GroupMessage` objects, for the
        view to filter, transform or write through with ``send``.

        Returns once the broadcast backend has confirmed the subscription, so a
        message published after ``join()`` returns is received. Leaving is
        automatic when the connection ends.
        """
        from .broadcast.hub import hub

        hub.join(self, group, forward=forward)

    def leave(self, group: str) -> None:
        """Stop receiving ``group``'s messages (nothing happens if not in it)."""
        from .broadcast.hub import hub

        hub.leave(self, group)

    @property
    def groups(self) -> frozenset[str]:
        """The groups this connection joined."""
        from .broadcast.hub import hub

        return hub.groups_of(self)

    def __repr__(self) -> str:
        path = getattr(self.request, "path", "?")
        state = "closed" if self.closed else "open"
        return f"<WebSocket {path} {state}>"
