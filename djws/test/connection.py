"""The client end of a test connection: real WebSocket frames to an in-process server.

:class:`TestWebSocket` speaks to an :class:`~.server.InProcessServer` through a
socket pair with the ``websockets`` library's sans-I/O client. The view runs
while the test waits on the socket; every wait is bounded. A refused handshake
raises :exc:`HandshakeRefused` carrying the response.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from types import TracebackType
from typing import Any

import gevent
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse
from django.test import Client
from gevent import socket as gsocket
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import CLOSED, CLOSING, OPEN
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from .server import CLIENT_ADDRESS, ENVIRON_KEY, InProcessServer, raise_if_failed
from .waiting import timeout_error

__all__ = ["HandshakeRefused", "TestWebSocket"]

logger = logging.getLogger("djws.test")


class HandshakeRefused(Exception):  # noqa: N818 - it is what happened, not an error kind
    """The server answered the opening handshake with an HTTP response, not a 101.

    ``response`` is that response as a :class:`~django.http.HttpResponse`
    (``status_code``, headers, ``content``), the way the browser would have
    received it: a 404 for no route, a 403 for a refused Origin or
    ``PermissionDenied``, a redirect from ``login_required``.
    """

    def __init__(self, path: str, response: HttpResponse) -> None:
        self.path = path
        self.response = response
        detail = f"{response.status_code} {response.reason_phrase}"
        if response.has_header("Location"):
            detail += f" (Location: {response['Location']})"
        super().__init__(f"the WebSocket handshake to {path} was refused: {detail}")


class TestWebSocket:
    """The client end of a WebSocket opened by :meth:`djws.test.WebSocketClient.connect`.

    Every method that waits does so for at most ``timeout`` seconds (the
    client's ``websocket_timeout`` by default), so a test never hangs: a view
    that does not answer fails the test with ``TimeoutError``.
    """

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, client: Client, path: str, timeout: float) -> None:
        self.client = client
        self.path = path
        self.timeout = timeout
        #: The server's 101 response: ``response.headers`` holds its headers.
        self.response: Response | None = None
        #: The subprotocol the server chose, or None.
        self.subprotocol: str | None = None
        self._exc_info: Any = None
        self._messages: list[str | bytes] = []
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._eof = False
        self._sock, server_sock = gsocket.socketpair()
        self._server_sock = server_sock
        self._server = InProcessServer(self)
        self._greenlet = gevent.spawn(self._serve, server_sock)
        self._protocol: ClientProtocol

    def _serve(self, sock: Any) -> None:
        try:
            self._server.handle(sock, CLIENT_ADDRESS)  # type: ignore[arg-type] # stubs say str
        finally:
            sock.close()

    def _store_exc_info(self, request: HttpRequest | None = None, **kwargs: Any) -> None:
        # Connected to got_request_exception, as django.test.Client does.
        if request is not None and request.META.get(ENVIRON_KEY) is self:
            self._exc_info = sys.exc_info()

    def _raise_view_exception(self) -> None:
        """Re-raise what the view raised, as Django's test client does for HTTP views."""
        if self._exc_info is not None and self.client.raise_request_exception:
            exc_info, self._exc_info = self._exc_info, None
            raise exc_info[1].with_traceback(exc_info[2])

    # Opening

    def _open(
        self,
        *,
        subprotocols: Sequence[str] | None,
        origin: str | None,
        headers: dict[str, str],
        compression: bool,
    ) -> None:
        self._protocol = ClientProtocol(
            parse_uri(f"ws://testserver{self.path}"),
            origin=Origin(origin) if origin is not None else None,
            subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
            extensions=[ClientPerMessageDeflateFactory()] if compression else None,
            max_size=None,
        )
        request = self._protocol.connect()
        for name, value in headers.items():
            request.headers[name] = value
        got_request_exception.connect(self._store_exc_info)
        self._protocol.send_request(request)
        self._flush()
        deadline = time.monotonic() + self.timeout
        while self.response is None:
            self._pump(deadline, f"the handshake of {self.path}")
            for event in self._protocol.events_received():
                if isinstance(event, Response):
                    self.response = event
                elif isinstance(event, Frame):
                    self._receive_frame(event)
        if self._protocol.handshake_exc is not None:
            self._finish(deadline)
            self._raise_view_exception()
            raise HandshakeRefused(self.path, self._http_response(self.response))
        self.subprotocol = self._protocol.subprotocol

    def _http_response(self, response: Response) -> HttpResponse:
        http_response = HttpResponse(bytes(response.body), status=response.status_code)
        http_response.reason_phrase = response.reason_phrase
        del http_response["Content-Type"]
        for name, value in response.headers.raw_items():
            if name.lower() == "set-cookie":
                self.client.cookies.load(value)
                http_response.cookies.load(value)
            else:
                http_response[name] = value
        return http_response

    # The socket

    def _flush(self) -> None:
        for data in self._protocol.data_to_send():
            if data:
                self._sock.sendall(data)
            elif not self._eof:
                with suppress(OSError):  # the server may have closed already
                    self._sock.shutdown(gsocket.SHUT_WR)

    def _pump(self, deadline: float, waiting_for: str) -> None:
        """Read once from the socket (the view runs meanwhile) and feed the protocol."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timeout_error(self.timeout, waiting_for)
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise timeout_error(self.timeout, waiting_for) from None
        except OSError:
            data = b""
        if data:
            self._protocol.receive_data(data)
        else:
            self._eof = True
            self._protocol.receive_eof()
        self._flush()

    def _receive_frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragment_opcode = frame.opcode
            self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
        else:
            return  # the protocol answers pings and closes itself
        if frame.fin:
            data = b"".join(self._fragments)
            self._fragments = []
            if self._fragment_opcode is Opcode.TEXT:
                self._messages.append(data.decode())
            else:
                self._messages.append(data)

    def _receive_events(self) -> None:
        for event in self._protocol.events_received():
            if isinstance(event, Frame):
                self._receive_frame(event)

    # Receiving

    def receive(self, timeout: float | None = None) -> str | bytes | None:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Return None once the server has closed the connection (then read
        :attr:`close_code`). Raise ``TimeoutError`` if nothing came in time.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._messages:
            if self._protocol.close_rcvd is not None or self._eof:
                self._raise_view_exception()
                return None
            self._pump(deadline, f"a message from {self.path}")
            self._receive_events()
        self._raise_view_exception()
        return self._messages.pop(0)

    def receive_json(self, timeout: float | None = None) -> Any:
        """Receive a message and decode it as JSON; fail if the server closed instead."""
        message = self.receive(timeout)
        if message is None:
            raise AssertionError(
                f"expected a JSON message from {self.path}, but it closed with "
                f"{self._describe_close()}"
            )
        return json.loads(message)

    def assert_nothing_received(self, timeout: float = 0.1) -> None:
        """Let the view run for ``timeout`` seconds; fail if it sent a message."""
        try:
            message = self.receive(timeout)
        except TimeoutError:
            return
        if message is not None:
            raise AssertionError(f"expected no message from {self.path}, got {message!r}")

    # Sending

    def send(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message to the view."""
        if isinstance(message, str):
            self._protocol.send_text(message.encode())
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._protocol.send_binary(bytes(message))
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        self._flush()

    def send_json(self, obj: Any) -> None:
        """Send ``obj`` encoded as JSON in a text message."""
        self.send(json.dumps(obj))

    # Closing

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the server dropped TCP."""
        return self._protocol.state is not OPEN

    @property
    def close_code(self) -> int | None:
        """The close code (the server's if it closed first); 1006 if TCP just dropped."""
        return self._protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """The reason that came with :attr:`close_code`."""
        return self._protocol.close_reason

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close from the client side, then wait until the view has finished."""
        deadline = time.monotonic() + self.timeout
        if self._protocol.state is OPEN:
            self._protocol.send_close(code, reason)
            self._flush()
        self._finish(deadline)
        self._raise_view_exception()

    def wait_closed(self, timeout: float | None = None) -> int | None:
        """Wait until the server closes and the view has finished; return the close code.

        Messages the view sent meanwhile stay available to :meth:`receive`.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._protocol.state in (OPEN, CLOSING) and not self._eof:
            self._pump(deadline, f"{self.path} to close")
            self._receive_events()
        self._finish(deadline)
        self._raise_view_exception()
        return self.close_code

    def assert_closed(
        self,
        code: int = CloseCode.NORMAL_CLOSURE,
        reason: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Wait for the server to close; fail unless it closed with ``code`` (and ``reason``)."""
        self.wait_closed(timeout)
        if self.close_code != code or (reason is not None and self.close_reason != reason):
            expected = _describe(code, reason)
            raise AssertionError(
                f"expected {self.path} to close with {expected}, "
                f"but it closed with {self._describe_close()}"
            )

    def _describe_close(self) -> str:
        return _describe(self.close_code, self.close_reason)

    def _finish(self, deadline: float) -> None:
        """Complete the closing handshake, close the socket, let the view's request end."""
        try:
            while not self._eof and self._protocol.state is not CLOSED:
                self._pump(deadline, f"{self.path} to close")
                self._receive_events()
        except TimeoutError:
            pass  # the view ignores the close; closing TCP below ends its receive()
        finally:
            self._sock.close()
            got_request_exception.disconnect(self._store_exc_info)
        # The view's request ends after TCP closes: middleware's response phase
        # (a session save, say) and request_finished run now. Wait for them.
        self._greenlet.join(max(deadline - time.monotonic(), 0.5))
        if not self._greenlet.dead:
            self._greenlet.kill(block=True, timeout=1)
            raise AssertionError(f"the view of {self.path} did not finish after the close")
        raise_if_failed(self._greenlet, self.path)

    def __enter__(self) -> TestWebSocket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # The test failed already: clean up, but let its own exception through.
        try:
            self.close()
        except Exception:
            logger.debug("error while closing after a failed test", exc_info=True)

    def __repr__(self) -> str:
        state = "closed" if self._protocol.state is not OPEN else "open"
        return f"<TestWebSocket {self.path} {state}>"


def _describe(code: int | None, reason: str | None) -> str:
    """Name a close the way websockets does: ``1011 (internal error) reason``."""
    if code is None:
        return "no close code (still open)"
    return str(Close(code, reason or ""))
