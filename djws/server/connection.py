"""One WebSocket connection on gevent: the socket, its protocol, and the view's calls.

The thin I/O layer over the protocol (:class:`~djws.protocol.protocol.ServerProtocol`:
frames, pings, the closing handshake, close codes) and the transport
(:class:`~.transport.Transport`: non-blocking reads, bounded writes). It hands
messages (``str`` for text, ``bytes`` for binary) to the view, and cuts TCP when a
client does not finish the closing handshake in time.

A connection is *pending* until :meth:`Connection.accept` writes the ``101``
(:meth:`.handoff.Upgrade.accept`): the view can look at what the client offered
and may still refuse with any HTTP response; receiving or sending raises. Once
accepted it is in the process's registry (:mod:`.registry`) until
:meth:`~Connection.finish`. Only the view's greenlet reads the socket; any
greenlet may send, close or :meth:`~Connection.deliver`. Views get its subclass
:class:`djws.connection.WebSocket`, which adds what Django and the broadcast hub need.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any

from gevent import getcurrent
from gevent.hub import get_hub
from websockets.frames import CloseCode

from .. import metrics
from ..exceptions import BufferFull, ConnectionClosed
from ..limits import Limits
from ..metrics import tally
from ..protocol.frames import OP_BINARY, OP_TEXT, Outgoing
from ..protocol.protocol import ServerProtocol, State
from .limits import Budget
from .registry import registry
from .transport import Transport

if TYPE_CHECKING:
    from ..conf import ServerSettings
    from .handoff import Upgrade

__all__ = ["NOT_ACCEPTED", "CloseCode", "Connection"]

#: The error for using a connection the view has not accepted yet.
NOT_ACCEPTED = (
    "this WebSocket is not accepted yet: call ws.accept() before receiving, sending or "
    "closing, or return an HttpResponse from the view to refuse the connection"
)


class Connection:
    """A WebSocket connection: pending, then open, then closed."""

    # A worker holds thousands, nearly all idle: no __dict__, no queue until needed.
    __slots__ = (  # noqa: SIM905 - one name a line would take a screen
        "__weakref__ _budget _close_timer _config _owner _protocol _ready _transport _upgrade"
        " bytes_in bytes_out messages_in messages_out offered_subprotocols subprotocol tick_due"
    ).split()

    def __init__(self, upgrade: Upgrade, limits: Limits | None = None) -> None:
        self._upgrade: Upgrade | None = upgrade
        self._config: ServerSettings = upgrade.config
        limits = limits or upgrade.config.limits  # WEBSOCKET_LIMITS, or the view's
        self._budget = Budget(limits, upgrade.address) if limits.rated else None
        #: The subprotocols the client offered, in its order of preference.
        self.offered_subprotocols: Sequence[str] = upgrade.handshake.subprotocols
        #: The subprotocol chosen during the handshake, or None.
        self.subprotocol: str | None = None
        #: Messages and bytes (frames included) received and sent so far.
        self.messages_in = self.messages_out = self.bytes_in = self.bytes_out = 0
        self._protocol: ServerProtocol | None = None
        self._transport: Transport | None = None
        self._owner = getcurrent()
        self._ready: deque[Any] | None = None
        self._close_timer: Any = None
        self.tick_due = 0.0  # when the keepalive pass must next call tick()

    # Opening

    @property
    def accepted(self) -> bool:
        """True once :meth:`accept` wrote the 101."""
        return self._protocol is not None

    def accept(
        self,
        subprotocol: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        compression: bool | None = None,
    ) -> None:
        """Write ``101 Switching Protocols``: the connection is open from now on.

        ``subprotocol`` must be one the client offered (:attr:`offered_subprotocols`;
        ValueError otherwise); ``headers`` are added to the response;
        ``compression`` overrides ``WEBSOCKET_COMPRESSION``.
        """
        if self._upgrade is None:
            raise RuntimeError("this WebSocket was already accepted")
        sock, buffered, deflate = self._upgrade.accept(subprotocol, headers, compression)
        self._upgrade = None
        self.subprotocol = subprotocol
        config = self._config
        self._protocol = ServerProtocol(
            max_message_size=config.max_message_size,
            max_frame_size=config.max_frame_size,
            deflate=deflate,  # type: ignore[arg-type]
        )
        self._transport = Transport(sock, buffered, write_limit=config.write_buffer_limit)
        registry.add(self)
        metrics.opened()
        if registry.stopping:
            self.close(CloseCode.GOING_AWAY, "server shutting down")

    def _open(self) -> tuple[ServerProtocol, Transport]:
        if self._protocol is None or self._transport is None:
            raise RuntimeError(NOT_ACCEPTED)
        return self._protocol, self._transport

    # Receiving

    def receive(self, timeout: float | None = None) -> Any:
        """Return the next message: ``str`` (text), ``bytes`` (binary), or a delivered item.

        Return None once the connection is closed. Raise ``TimeoutError`` if
        ``timeout`` seconds pass without anything arriving.
        """
        protocol, transport = self._open()
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            transport.take_turn()
            if ready := self._ready:
                item = ready.popleft()
                if not ready:
                    self._ready = None
                self.tick_due = 0.0  # the view is busy now (see tick_due)
                return item
            if protocol.end_pending:
                protocol.end()  # the messages sent before the close or error are all taken
                self._sync()
            if self.closed:
                return None
            wait = None if deadline is None else deadline - monotonic()
            if wait is not None and wait <= 0:
                self.tick_due = 0.0
                raise TimeoutError(f"no message within {timeout} seconds")
            if protocol.parser.more:  # frames left from the last read, parsed a batch at a time
                self._parse(b"")
                continue
            data = transport.recv(self._idle_after(wait))
            if data is None:
                if not self._ready:
                    self._idle()
                continue
            self._receive_data(data)

    def _idle_after(self, wait: float | None) -> float | None:
        """How long ``receive()`` waits before :meth:`_idle`, given ``wait`` (None: forever)."""
        return wait

    def _idle(self) -> None:
        """Called when ``receive()`` waited that long (or was woken) with nothing to return."""

    def __iter__(self) -> Iterator[Any]:
        """Iterate over messages until the connection closes."""
        while (message := self.receive()) is not None:
            yield message

    def deliver(self, item: Any) -> None:
        """Hand ``item`` to the view: its next ``receive()`` returns it, in order.

        From any greenlet: how a view waits on its socket and on other sources at
        once without losing a message.
        """
        if self._ready is None:
            self._ready = deque()
        self._ready.append(item)
        if self._transport is not None:
            self._transport.wake()

    def _receive_data(self, data: bytes) -> None:
        """Take in bytes read from the socket; ``b""`` is the end of the stream."""
        if data:
            self._parse(data)
            return
        protocol, transport = self._open()  # end of stream without a closing handshake: 1006
        transport.abort()
        protocol.connection_lost()

    def _parse(self, data: bytes) -> None:
        """Parse ``data`` after what the parser holds; queue the messages; answer controls."""
        protocol = self._protocol
        assert protocol is not None
        messages = protocol.receive_data(data)
        self.bytes_in += len(data)
        tally.bytes_in += len(data)
        size = None if protocol.deflate else len(data)  # compressed: what messages inflate to
        if self._budget is not None and (over := self._budget.spend(messages, size)):
            self._fail(CloseCode.POLICY_VIOLATION, over)  # what came with it is not taken
            return
        if messages:
            self.messages_in += len(messages)
            tally.messages_in += len(messages)
            if self._ready is None:
                self._ready = deque()
            self._ready.extend(messages)
        if protocol.end_pending and not self._ready:
            protocol.end()
        if protocol.has_output:
            self._sync()

    def tick(self, now: float, **limits: float | None) -> None:
        """Keepalive: take in what came (pongs count), ping, time out or close if idle; set
        :attr:`tick_due`: at once while the view is busy (its frames are read here), else due."""
        if self.closed:
            return
        protocol, transport = self._open()
        parser = protocol.parser  # with more frames to take, the client is alive anyway
        if not (transport.reading or transport.closed or parser.done or parser.more):
            data = transport.recv_nowait()
            if data is not None:
                self._receive_data(data)
        protocol.tick(now, **limits)
        if protocol.has_output:
            self._sync()
        self.tick_due = protocol.due(**limits) if transport.reading else 0.0

    # Sending

    def send(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message.

        Waits while the client has a full buffer of unread data. Raise
        :class:`~djws.exceptions.ConnectionClosed` if the connection is closed.
        """
        if isinstance(message, str):
            self._send(((OP_TEXT, message.encode(), None),), wait=True)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._send(((OP_BINARY, bytes(message), None),), wait=True)
        else:
            kind = type(message).__name__
            raise TypeError(f"send() takes str or bytes, not {kind}; use send_json() for others")

    def send_nowait(self, opcode: int, payload: bytes, frame: bytes | None = None) -> bool:
        """Queue a message without waiting (broadcasts); False if it was not queued.

        ``frame``: the message framed once for every recipient (used unless this
        connection compresses). A client too slow to read is closed with 1008.
        """
        return self.send_many_nowait(((opcode, payload, frame),))

    def send_many_nowait(self, messages: Sequence[Outgoing]) -> bool:
        """:meth:`send_nowait` for ``(opcode, payload, frame)`` messages, in one write."""
        if self.closed:
            return False
        try:
            self._send(messages, wait=False)
        except BufferFull:
            metrics.buffer_full()
            self._fail(CloseCode.POLICY_VIOLATION, "client too slow: send buffer full")
            return False
        except ConnectionClosed:
            return False
        return True

    def _send(self, messages: Sequence[Outgoing], *, wait: bool) -> None:
        protocol, transport = self._open()
        if wait:  # a view's own send: a loop of them must not hold the worker either
            transport.take_turn()
        if transport.closed:
            protocol.connection_lost()
        if len(messages) == 1:
            data = protocol.send_message(*messages[0])
        else:
            data = b"".join([protocol.send_message(*message) for message in messages])
        try:
            transport.write(data, wait=wait)
        except OSError as exc:
            protocol.connection_lost()
            raise protocol.closed_error() from exc
        self.messages_out += len(messages)
        self.bytes_out += len(data)
        tally.messages_out += len(messages)
        tally.bytes_out += len(data)

    def ping(self, data: bytes = b"") -> None:
        """Send a ping; the client's pong counts as activity."""
        self._open()[0].send_ping(data)
        self._sync()

    def _sync(self) -> None:
        """Write the control frames the protocol queued; act on its end of output."""
        protocol, transport = self._open()
        for data in protocol.data_to_send():
            if not data:
                transport.shutdown_write()
            elif not transport.closed:
                try:
                    # Past the buffer limit: control frames are small and must go out.
                    transport.write(data, wait=False, force=True)
                except BufferFull:  # pongs piling up for a client that pings and never reads
                    metrics.buffer_full()
                    protocol.fail(CloseCode.POLICY_VIOLATION, "client too slow: send buffer full")
                    transport.abort()  # it would not read the close frame either
                    protocol.connection_lost()
                except OSError:
                    protocol.connection_lost()  # closed and close_code say so
        if protocol.state is not State.OPEN:
            self._start_close_timer()
            transport.wake()

    # Closing

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the TCP connection dropped."""
        protocol, transport = self._protocol, self._transport
        return protocol is not None and (protocol.state is not State.OPEN or transport.closed)  # type: ignore[union-attr]

    @property
    def close_code(self) -> int | None:
        """The client's close code if it sent one, else ours; 1006 if TCP dropped (1005: none)."""
        return None if self._protocol is None else self._settled().close_code

    @property
    def close_reason(self) -> str | None:
        """The reason that came with :attr:`close_code` (``""`` if none)."""
        return None if self._protocol is None else self._settled().close_reason

    def _settled(self) -> ServerProtocol:
        """The protocol, told first if the transport found the TCP connection closed."""
        protocol, transport = self._open()
        if transport.closed:
            protocol.connection_lost()
        return protocol

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason``.

        Called from the view, wait (up to ``WEBSOCKET_CLOSE_TIMEOUT``) for the
        client to answer; from another greenlet, return at once: the view's next
        ``receive()`` returns None.
        """
        self._settled().send_close(code, reason)
        self._sync()
        if getcurrent() is self._owner:
            self.wait_closed()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455, 7.1.7): close frame, then close TCP."""
        self._settled().fail(code, reason)
        self._sync()

    def _start_close_timer(self) -> None:
        if self._close_timer is None and self._transport is not None:
            self._close_timer = timer = get_hub().loop.timer(self._config.close_timeout)
            timer.start(self._transport.abort)

    def wait_closed(self) -> None:
        """Read and discard until the client has closed the TCP connection."""
        protocol, transport = self._open()
        self._ready = None
        if not self.closed:
            self.close()
            return
        if protocol.end_pending:
            protocol.end()
            self._sync()
        self._start_close_timer()
        while not transport.closed:
            transport.take_turn()  # the close timer must get to run, even if the client floods
            if protocol.parser.more:
                self._parse(b"")
            else:
                data = transport.recv()
                if data is None:
                    continue
                if not data:
                    break
                self._receive_data(data)
            self._ready = None
        transport.close()
        protocol.connection_lost()

    def finish(self) -> None:
        """Close with 1000 if still open, complete the handshake, free resources."""
        try:
            if self._transport is not None and not self._transport.closed:
                self.close()
        finally:
            if self._transport is not None:
                self._transport.close()
            if self._close_timer is not None:
                self._close_timer.close()
                self._close_timer = None
            registry.discard(self)
            if self._protocol is not None:
                metrics.closed(self.close_code)
