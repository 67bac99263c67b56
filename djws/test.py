"""Test WebSocket views from your own test suite, as you test HTTP views.

:class:`WebSocketClient` is Django's test :class:`~django.test.Client` that can
also open WebSockets::

    from django.test import TestCase
    from djws.test import WebSocketClient

    class ChatTests(TestCase):
        client_class = WebSocketClient

        def test_echo(self):
            self.client.force_login(self.user)
            with self.client.connect("/echo/") as ws:
                ws.send("hello")
                self.assertEqual(ws.receive(), "hello")
            self.assertEqual(ws.close_code, 1000)

How it works, and why it can see your test's rows: the server half of each
connection runs *in the test's own thread*. djws's real
:class:`~djws.server.handler.WebSocketHandler` (HTTP parsing, handshake validation,
the deferred 101) and :class:`~djws.dispatcher.WebSocketDispatcher` (the
project's middleware, ``WEBSOCKET_URLCONF``, your ``@websocket`` view) run in a
gevent greenlet on one end of a socket pair; the client speaks real WebSocket
frames on the other end (the ``websockets`` library's sans-I/O client).

Nothing is monkey-patched. gevent's own sockets and hub cooperate without the
patch, and in an unpatched process Django keeps one database connection per
*thread*, which the view's greenlet therefore shares with the test. So inside
``TestCase``'s transaction the view sees the rows the test created, and the test
sees the rows the view wrote; with ``TransactionTestCase`` both commit to the
same test database.

The servers refuse to run unpatched (:func:`djws.patching.ensure_patched`),
because there thousands of greenlets would trample one shared connection. Here
that check is bypassed on purpose -- the dispatcher is called directly, not
through :class:`~djws.wsgi.WebSocketRouter` -- and sharing is safe: there is one
thread, and the view's greenlet runs only while the test waits on its socket
(``receive()``, ``close()``, ``wait_closed()``...), never at the same time as
test code. Keepalive pings do not run in tests.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlencode

import gevent
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.test import Client
from gevent import pywsgi
from gevent import socket as gsocket
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import CLOSED, CLOSING, OPEN
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from .dispatcher import WebSocketDispatcher
from .server.handler import WebSocketHandler
from .server.registry import registry

__all__ = [
    "Broadcast",
    "HandshakeRefused",
    "TestWebSocket",
    "WebSocketClient",
    "capture_broadcasts",
]

logger = logging.getLogger("djws.test")

#: The address the in-process server pretends the client connects from.
CLIENT_ADDRESS = ("127.0.0.1", 50000)
_ENVIRON_KEY = "djws.test.websocket"


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


class _AccessLog:
    """What gunicorn's handler expects as ``server.log``: access lines go to logging."""

    def access(
        self, resp: Any, req_headers: Any, environ: dict[str, Any], request_time: Any
    ) -> None:
        logger.debug(
            "%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), resp.status
        )


class _Server(pywsgi.WSGIServer):
    """An in-process server for one connection: never listens, only handles a socket."""

    def __init__(self, websocket: TestWebSocket) -> None:
        super().__init__(
            ("127.0.0.1", 0),
            _TestDispatcher(),
            handler_class=_Handler,
            environ={"SERVER_NAME": "testserver", "SERVER_PORT": "80"},
            log=None,
            error_log=logger,
        )
        self.log = _AccessLog()
        self.websocket = websocket


class _Handler(WebSocketHandler):
    """djws's handler, with the test connection in the environ (for its exceptions)."""

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[_ENVIRON_KEY] = self.server.websocket
        return environ


class _TestDispatcher(WebSocketDispatcher):
    """The dispatcher, minus the one thing that would break a test's transaction.

    Django closes "old" database connections when a request starts and ends.
    In a test, the connection is the test's own, inside ``TestCase``'s
    transaction: closing it would roll back the test's data. Django's test
    client detaches ``close_old_connections`` around those two signals for the
    same reason (``django.test.client.ClientHandler``); so does this.
    """

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request_started.disconnect(close_old_connections)
        try:
            response = super().__call__(environ, start_response)
        finally:
            request_started.connect(close_old_connections)
        close = response.close

        def close_keeping_connections() -> None:
            request_finished.disconnect(close_old_connections)
            try:
                close()
            finally:
                request_finished.connect(close_old_connections)

        response.close = close_keeping_connections
        return response

    def get_response(self, request: HttpRequest) -> HttpResponse:
        """Reattach ``close_old_connections`` as soon as ``request_started`` was sent.

        The view may run for the rest of the test; a test that opens no WebSocket
        meanwhile must not find the receiver missing.
        """
        request_started.connect(close_old_connections)
        return super().get_response(request)


class TestWebSocket:
    """The client end of a WebSocket opened by :meth:`WebSocketClient.connect`.

    Every method that waits does so for at most ``timeout`` seconds (the
    client's ``websocket_timeout`` by default), so a test never hangs: a view
    that does not answer fails the test with ``TimeoutError``.
    """

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, client: WebSocketClient, path: str, timeout: float) -> None:
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
        self._server = _Server(self)
        self._greenlet = gevent.spawn(self._serve, server_sock)
        self._protocol: ClientProtocol

    def _serve(self, sock: Any) -> None:
        try:
            self._server.handle(sock, CLIENT_ADDRESS)
        finally:
            sock.close()

    def _store_exc_info(self, request: HttpRequest | None = None, **kwargs: Any) -> None:
        # Connected to got_request_exception, as django.test.Client does.
        if request is not None and request.META.get(_ENVIRON_KEY) is self:
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
                else:
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
            raise TimeoutError(f"timed out after {self.timeout} s waiting for {waiting_for}")
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(
                f"timed out after {self.timeout} s waiting for {waiting_for}"
            ) from None
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
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str | None = None,
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


class WebSocketClient(Client):
    """Django's test client, which can also open WebSockets to ``WEBSOCKET_URLCONF`` views.

    Log in as you would with :class:`django.test.Client` (``force_login()``,
    ``login()``, or an HTTP view that logs in): the WebSocket handshake sends
    the client's cookies, so ``request.user`` and ``request.session`` in the
    view are the logged-in user's.

    ``raise_request_exception`` (default True) works as in Django's client: an
    exception raised by the view is re-raised in the test when it next waits on
    the connection. Pass False to test the 1011 close the client would see.
    ``websocket_timeout`` bounds every wait, in seconds.
    """

    def __init__(self, *args: Any, websocket_timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.websocket_timeout = websocket_timeout
        # This process serves WebSocket views now: memory:// publishes reach them.
        registry.serving = True

    def connect(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        subprotocols: Sequence[str] | None = None,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        compression: bool = False,
        timeout: float | None = None,
    ) -> TestWebSocket:
        """Open a WebSocket to ``path`` and return it once the view accepted.

        ``data`` becomes the query string, as for :meth:`~django.test.Client.get`.
        ``subprotocols`` are offered in order; ``origin`` is sent as the
        ``Origin`` header (none by default, like a non-browser client);
        ``compression`` offers permessage-deflate. Raise
        :exc:`HandshakeRefused` if the server answers with an HTTP response
        instead (404, 403, a login redirect...).
        """
        if data:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(data, doseq=True)}"
        ws = TestWebSocket(self, path, self.websocket_timeout if timeout is None else timeout)
        ws._open(
            subprotocols=subprotocols,
            origin=origin,
            headers={**self._handshake_headers(), **(headers or {})},
            compression=compression,
        )
        return ws

    def assert_refused(
        self, path: str, status_code: int | None = None, **kwargs: Any
    ) -> HttpResponse:
        """Open ``path`` expecting an HTTP refusal; return the response.

        Fail if the view accepted the WebSocket, or if ``status_code`` is given
        and the refusal has another status. Takes :meth:`connect`'s arguments.
        """
        try:
            ws = self.connect(path, **kwargs)
        except HandshakeRefused as refused:
            response = refused.response
        else:
            ws.close()
            raise AssertionError(f"expected the WebSocket handshake to {path} to be refused")
        if status_code is not None and response.status_code != status_code:
            phrase = HTTPStatus(status_code).phrase
            raise AssertionError(
                f"expected the handshake to {path} to be refused with {status_code} "
                f"{phrase}, got {response.status_code} {response.reason_phrase}"
            )
        return response

    def _handshake_headers(self) -> dict[str, str]:
        """The cookies and default headers this client sends with every request."""
        headers: dict[str, str] = {}
        for key, value in self.defaults.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").title()] = str(value)
        headers.update(getattr(self, "headers", None) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(
                sorted(f"{morsel.key}={morsel.coded_value}" for morsel in self.cookies.values())
            )
        return headers


class Broadcast(NamedTuple):
    """One message published while :func:`capture_broadcasts` was listening."""

    #: The group, or for ``send_to_user`` / ``send_to_session`` the reserved
    #: group of that user or session (``djws.user.<pk>``, ``djws.session.<key>``).
    group: str
    #: What was published: ``str``, ``bytes``, or the JSON object, decoded.
    message: Any


class _CapturingBackend:
    """The real broadcast backend, recording what goes through its ``publish``."""

    def __init__(self, backend: Any, captured: list[Broadcast]) -> None:
        self._backend = backend
        self._captured = captured

    def publish(self, group: str, wire: bytes) -> None:
        from .broadcast.hub import TARGETS
        from .broadcast.message import GroupMessage, split_envelope

        target, payload = split_envelope(wire) if group == TARGETS else (group, wire)
        self._captured.append(Broadcast(target, GroupMessage(target, payload).data))
        self._backend.publish(group, wire)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@contextmanager
def capture_broadcasts() -> Iterator[list[Broadcast]]:
    """Record every message published while the block runs, in order.

    Yields a list that fills with :class:`Broadcast` ``(group, message)``
    tuples; messages are still delivered. It sees every public way to send --
    :func:`djws.broadcast.publish`, ``send_to_user``, ``send_to_session`` --
    from views, the test itself or any code they call::

        with capture_broadcasts() as sent:
            ws.send_json({"text": "hi"})
            ws.receive_json()
        assert sent == [("room-1", {"text": "hi"})]

    Only this process's publishes are seen, which in a test is all of them.
    """
    from . import broadcast

    captured: list[Broadcast] = []
    get_backend = broadcast.get_backend

    def capturing_get_backend() -> Any:
        return _CapturingBackend(get_backend(), captured)

    # publish() and friends look get_backend up in their module on every call,
    # so replacing it there catches them however they were imported.
    broadcast.get_backend = capturing_get_backend
    try:
        yield captured
    finally:
        broadcast.get_backend = get_backend
