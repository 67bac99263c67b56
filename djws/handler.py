"""The worker's per-connection HTTP handler: where a WebSocket request enters.

gevent-websocket's handler answers ``101 Switching Protocols`` before the
application runs, so Django can no longer refuse with a 403, a 404 or a login
redirect. This handler defers the upgrade instead:

1. gevent's pywsgi reads the request line and headers, which must arrive
   within ``WEBSOCKET_HANDSHAKE_TIMEOUT`` (else 408) and add up to at most
   ``WEBSOCKET_MAX_HEADER_SIZE`` bytes (else 431): a client that opens TCP and
   dribbles headers forever holds neither a greenlet nor memory for long;
2. a request with ``Upgrade: websocket`` is validated (:mod:`djws.handshake`);
   a malformed one is answered with 400 or 426 here, without touching Django;
3. a valid one reaches the WSGI application with ``environ["djws.upgrade"]``,
   an :class:`Upgrade` that the ``@websocket`` view calls to write the 101;
4. whatever Django answers *before* that -- a 403, 404, redirect or 500 -- is
   sent as an ordinary HTTP response.

It extends gunicorn's gevent handler, so gunicorn's access log keeps working.
"""

from __future__ import annotations

import contextlib
import io
import socket
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from gevent import Timeout
from gevent.pywsgi import Input
from gunicorn.workers.ggevent import PyWSGIHandler
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from .conf import settings
from .connection import CloseCode, WebSocket, lifecycle, open_connections
from .exceptions import HandshakeError
from .frames import Parser
from .handshake import Handshake, is_upgrade_request, parse_handshake
from .transport import Transport

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.http import HttpRequest

__all__ = ["Upgrade", "WebSocketHandler"]


class HeaderTimeout(socket.timeout):
    """The client did not send its request headers in time."""


class HeadersTooLarge(ValueError):  # noqa: N818 - named like HeaderTimeout
    """The request's header block is over ``WEBSOCKET_MAX_HEADER_SIZE``."""


class _HeaderReader:
    """Give ``http.client.parse_headers`` lines of ``rfile`` until a byte budget is spent.

    The standard library bounds each header line (64 KiB) and their number
    (100), so about 6.5 MB; this bounds their total.
    """

    def __init__(self, rfile: Any, budget: int) -> None:
        self._rfile = rfile
        self._budget = budget

    def readline(self, limit: int = -1) -> bytes:
        line = self._rfile.readline(limit)
        self._budget -= len(line)
        if self._budget < 0:
            raise HeadersTooLarge("request header block too large")
        return line


def _plain_response(status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    body = (message + "\n").encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Upgrade:
    """A valid upgrade request waiting for the view to accept it."""

    def __init__(self, handler: WebSocketHandler, handshake: Handshake) -> None:
        self._handler = handler
        self.handshake = handshake
        self.websocket: WebSocket | None = None

    def accept(
        self,
        subprotocol: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        request: HttpRequest | None = None,
        compression: bool | None = None,
    ) -> WebSocket:
        """Write ``101 Switching Protocols`` and return the open connection."""
        if self.websocket is not None:
            raise RuntimeError("this WebSocket was already accepted")
        if compression is None:
            compression = settings.WEBSOCKET_COMPRESSION
        factory = None
        if compression:
            factory = ServerPerMessageDeflateFactory(
                server_max_window_bits=settings.WEBSOCKET_COMPRESSION_WINDOW_BITS,
                client_max_window_bits=settings.WEBSOCKET_COMPRESSION_WINDOW_BITS,
                compress_settings={"memLevel": settings.WEBSOCKET_COMPRESSION_MEMORY_LEVEL},
            )
        response, extensions = self.handshake.accept(
            subprotocol, compression=factory, headers=headers
        )
        handler = self._handler
        handler.socket.sendall(response)
        handler.mark_upgraded(len(response))

        max_message_size = settings.WEBSOCKET_MAX_MESSAGE_SIZE
        max_frame_size = settings.WEBSOCKET_MAX_FRAME_SIZE
        deflate = extensions[0] if extensions else None
        parser = Parser(
            max_message_size=max_message_size,
            max_frame_size=max_message_size if max_frame_size is None else max_frame_size,
            deflate=deflate,  # type: ignore[arg-type]
        )
        transport = Transport(
            handler.socket,
            handler.take_buffered_input(),
            write_limit=settings.WEBSOCKET_WRITE_BUFFER_LIMIT,
        )
        self.websocket = WebSocket(
            transport,
            parser,
            deflate=deflate,  # type: ignore[arg-type]
            request=request,
            subprotocol=subprotocol,
            close_timeout=settings.WEBSOCKET_CLOSE_TIMEOUT,
            db_release_delay=settings.WEBSOCKET_DB_RELEASE_DELAY,
        )
        open_connections.add(self.websocket)
        if lifecycle.stopping:
            self.websocket.close(CloseCode.GOING_AWAY, "server shutting down")
        return self.websocket


class WebSocketHandler(PyWSGIHandler):
    """pywsgi handler that validates upgrades and defers the 101 to the view."""

    _header_timer: Timeout | None = None
    _requests_started = 0

    def handle_one_request(self) -> Any:
        """Handle one request; its request line and headers must come in time."""
        self._requests_started += 1
        self._header_timer = Timeout.start_new(
            settings.WEBSOCKET_HANDSHAKE_TIMEOUT, HeaderTimeout("request headers timed out")
        )
        try:
            return super().handle_one_request()
        finally:
            self._header_timer.close()

    def read_requestline(self) -> str:
        """Read the request line; answer 408 if the first one does not come in time.

        An idle keep-alive connection (a later request that never starts) is
        closed silently instead.
        """
        try:
            return super().read_requestline()
        except HeaderTimeout:
            if self._requests_started == 1:
                self.log_error("Request timed out from %s", self.client_address)
                with contextlib.suppress(OSError):
                    self.socket.sendall(_plain_response(408, "Request timed out."))
            return ""

    def read_request(self, raw_requestline: str) -> bool:
        """Parse the request line and headers, within ``WEBSOCKET_MAX_HEADER_SIZE``."""
        rfile = self.rfile
        self.rfile = _HeaderReader(rfile, settings.WEBSOCKET_MAX_HEADER_SIZE - len(raw_requestline))
        try:
            return super().read_request(raw_requestline)
        finally:
            self.rfile = rfile

    def get_environ(self) -> dict[str, Any]:
        """Build the WSGI environ; the headers are complete, so stop their timer."""
        if self._header_timer is not None:
            self._header_timer.close()
        environ = super().get_environ()
        # Tells views and template tags (websocket_url) that this request came in
        # through a djws server, so WebSocket URLs are on this same host and port.
        environ["djws.server"] = True
        return environ

    def _handle_client_error(self, ex: Exception) -> tuple[str, bytes]:
        # pywsgi prints a traceback for anything but ValueError; a client's
        # malformed request (too many or too long headers, a timeout) is not a
        # server fault: log one line.
        self.log_error("Invalid request from %s: %s", self.client_address, ex)
        if isinstance(ex, HeaderTimeout):
            return ("408", _plain_response(408, "Request timed out."))
        if isinstance(ex, HeadersTooLarge):
            return ("431", _plain_response(431, "Request header fields too large."))
        return ("400", _plain_response(400, "Bad request."))

    def run_application(self) -> None:
        """Refuse malformed upgrades here; hand valid ones to the application."""
        if is_upgrade_request(self.environ):
            try:
                if lifecycle.stopping:
                    raise HandshakeError(
                        503, "The server is shutting down.", [("Retry-After", "1")]
                    )
                handshake = parse_handshake(self.environ)
            except HandshakeError as exc:
                self._refuse(exc)
                return
            # Whatever Django answers, this connection is not reused: a refused
            # WebSocket client does not send another request on it.
            self.close_connection = True
            # An upgrade request has no body, and what follows it on the socket
            # belongs to the WebSocket: Django's request must not hold the reader.
            self.environ["wsgi.input"] = io.BytesIO()
            self.environ["djws.upgrade"] = Upgrade(self, handshake)
        super().run_application()

    def _refuse(self, exc: HandshakeError) -> None:
        self.close_connection = True
        body = (exc.message + "\n").encode()
        self.start_response(
            f"{exc.status} {HTTPStatus(exc.status).phrase}",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                *exc.headers,
            ],
        )
        self.write(body)

    # Called by Upgrade.accept()

    def mark_upgraded(self, length: int) -> None:
        """Record that the 101 was written: pywsgi must write nothing more."""
        self.status = b"101 Switching Protocols"
        self._orig_status = "101 Switching Protocols"
        self.code = 101
        self.response_headers = []
        self.headers_sent = True
        self.close_connection = True
        self.response_length = length

    def take_buffered_input(self) -> bytes:
        """Return bytes the client sent after its headers that pywsgi already read."""
        self.socket.settimeout(0.0)
        try:
            data = self.rfile.read1(65536) or b""
        except (BlockingIOError, OSError):
            data = b""
        # From here on the Transport reads the socket itself. Dropping pywsgi's
        # buffered reader frees its 8 KiB buffer for the life of the connection.
        self.rfile = io.BytesIO()
        self.wsgi_input = Input(self.rfile, 0)
        return data

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None):  # noqa: ANN201
        """Record the response; after an upgrade Django's 101 sentinel writes nothing."""
        if self.code == 101 and self.headers_sent:
            return self.write
        return super().start_response(status, headers, exc_info)
