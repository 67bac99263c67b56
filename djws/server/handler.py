"""The worker's per-connection HTTP handler: where a WebSocket request enters.

gevent-websocket's handler answers ``101 Switching Protocols`` before the
application runs, so Django can no longer refuse with a 403, a 404 or a login
redirect. This handler defers the upgrade instead:

1. gevent's pywsgi reads the request line and :mod:`.headers` the header
   lines (one pass, no ``email`` parser); they must arrive
   within ``WEBSOCKET_HANDSHAKE_TIMEOUT`` (else 408) and add up to at most
   ``WEBSOCKET_MAX_HEADER_SIZE`` bytes (else 431): a client that opens TCP and
   dribbles headers forever holds neither a greenlet nor memory for long;
2. a request with ``Upgrade: websocket`` is validated
   (:mod:`djws.protocol.handshake`); a malformed one is answered with 400, 405,
   426 or 505 here, without touching Django;
3. a valid one reaches the WSGI application with ``environ["djws.upgrade"]``,
   an :class:`~.handoff.Upgrade` whose ``commit()`` the view calls to write
   the 101 and take the socket;
4. whatever Django answers *before* that -- a 403, 404, redirect or 500 -- is
   sent as an ordinary HTTP response; after it, nothing more is HTTP.

Credentials a client puts in the query string (``?djws-ticket=``,
:mod:`djws.protocol.credentials`) are taken out of the request line the moment
it is read, before anything can log it: the access log, error reports and
Django see ``djws-ticket=[redacted]``; the handshake carries the credential.
Those offered as subprotocols are redacted from the environ's
``Sec-WebSocket-Protocol`` once the handshake is parsed.

It extends gunicorn's gevent handler, so gunicorn's access log keeps working.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import time
from http import HTTPStatus
from typing import Any

from gevent import Timeout
from gunicorn.workers.ggevent import PyWSGIHandler

from .. import metrics
from ..conf import ServerSettings
from ..exceptions import HandshakeError
from ..limits import client_address, retry_after
from ..protocol import http
from ..protocol.credentials import Credential, redact_request_line, redact_subprotocols
from ..protocol.handshake import is_upgrade_request, parse_handshake
from .handoff import Upgrade
from .headers import EnvironHeaders, HeaderReader, HeadersTooLarge, RequestHeaders, share
from .limits import AddressBuckets, crossed
from .registry import registry
from .stack import direct_call

__all__ = ["WebSocketHandler"]

logger = logging.getLogger("djws.server")

#: Handshakes each client address may still start, in this worker.
handshakes = AddressBuckets()


class HeaderTimeout(socket.timeout):
    """The client did not send its request headers in time."""


class WebSocketHandler(PyWSGIHandler):  # type: ignore[misc] # gunicorn has no type hints
    """pywsgi handler that validates upgrades and defers the 101 to the view."""

    _header_timer: Timeout | None = None
    _requests_started = 0
    #: The credentials taken out of this request's query string.
    query_credentials: list[Credential] = []  # replaced for each request, never changed
    rfile: Any  # pywsgi's buffered reader of the socket, None once an upgrade owns it
    requestline: str  # pywsgi's: the request line, and its words
    command: str
    path: str
    request_version: str
    headers: Any  # RequestHeaders, then EnvironHeaders once the environ is built
    MessageClass = RequestHeaders  # pywsgi's header parser

    @property
    def config(self) -> ServerSettings:
        """The server's settings: the application's (read once per worker), else fresh ones."""
        config = getattr(self.application, "config", None)
        return config if config is not None else ServerSettings.read()

    def handle_one_request(self) -> Any:
        """Handle one request; its request line and headers must come in time."""
        self._requests_started += 1
        self.application = self.server.application
        self._header_timer = Timeout.start_new(
            self.config.handshake_timeout, HeaderTimeout("request headers timed out")
        )
        try:
            return super().handle_one_request()
        finally:
            self._stop_header_timer()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.close()
            self._header_timer = None

    def read_requestline(self) -> str:
        """Read the request line; answer 408 if the first one does not come in time.

        An idle keep-alive connection (a later request that never starts) is
        closed silently instead, and so is any connection still waiting for its
        request line when the worker stops, or about to wait for another one
        after a response that ended meanwhile (an event stream). Credentials in
        the query string are taken out of the line before anything else sees it.
        """
        if registry.stopping and self._requests_started > 1:
            return ""
        with registry.waiting_for_request():
            try:
                line: str = super().read_requestline()
            except HeaderTimeout:
                if self._requests_started == 1:
                    self.log_error("Request timed out from %s", self.client_address)
                    with contextlib.suppress(OSError):
                        self.socket.sendall(http.plain(408, "Request timed out."))
                return ""
            line, self.query_credentials = redact_request_line(line)
            return line

    def read_request(self, raw_requestline: str) -> bool:
        """Parse the request line and headers, within ``WEBSOCKET_MAX_HEADER_SIZE``."""
        rfile = self.rfile
        self.rfile = HeaderReader(rfile, self.config.max_header_size - len(raw_requestline))
        try:
            parsed = bool(super().read_request(raw_requestline))
        finally:
            self.rfile = rfile
        if parsed:
            # One copy of each for every connection that has the same, as the
            # headers (see .headers.share): a WebSocket's request lives for hours.
            self.requestline = share(self.requestline)
            self.command = share(self.command)
            self.path = share(self.path)
            self.request_version = share(self.request_version)
        return parsed

    def get_environ(self) -> dict[str, Any]:
        """Build the WSGI environ; the headers are complete, so stop their timer."""
        self._stop_header_timer()
        environ: dict[str, Any] = super().get_environ()
        # Tells views and template tags (websocket_url) that this request came in
        # through a djws server, so WebSocket URLs are on this same host and port.
        environ["djws.server"] = True
        self.headers = EnvironHeaders(environ)
        return environ

    def _headers(self) -> Any:
        """The environ's ``HTTP_*`` items (pywsgi re-splits its message's lines)."""
        return self.headers.environ_items()

    def _handle_client_error(self, ex: Exception) -> tuple[str, bytes]:
        # pywsgi prints a traceback for anything but ValueError; a client's
        # malformed request (too many or too long headers, a timeout) is not a
        # server fault: log one line.
        self.log_error("Invalid request from %s: %s", self.client_address, ex)
        if isinstance(ex, HeaderTimeout):
            return ("408", http.plain(408, "Request timed out."))
        if isinstance(ex, HeadersTooLarge):
            return ("431", http.plain(431, "Request header fields too large."))
        return ("400", http.plain(400, "Bad request."))

    def run_application(self) -> None:
        """Refuse malformed upgrades here; hand valid ones to the application."""
        if not is_upgrade_request(self.environ):
            super().run_application()
            return
        # Whatever happens, this connection is not reused: a refused WebSocket
        # client does not send another request on it.
        self.close_connection = True
        address = client_address(self.environ, self.config.trusted_proxies)
        try:
            if registry.stopping:
                raise HandshakeError(503, "The server is shutting down.", [("Retry-After", "1")])
            self._check_rate(address)
            handshake = parse_handshake(self.environ, self.query_credentials)
        except HandshakeError as exc:
            self._refuse(exc)
            return
        finally:
            protocols = self.environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL")
            if protocols:
                self.environ["HTTP_SEC_WEBSOCKET_PROTOCOL"] = redact_subprotocols(protocols)
        # An upgrade request has no body, and what follows it on the socket
        # belongs to the WebSocket: Django's request must not hold the reader.
        self.environ["wsgi.input"] = io.BytesIO()
        upgrade = Upgrade(handshake, self.socket, self.rfile, self.config, address)
        # The upgrade owns the reader now: held here too, it (and the socket's file
        # object under it) would live as long as the WebSocket. Nothing reads it
        # again here: the connection is not reused, and the input has no body.
        self.rfile = self.wsgi_input.rfile = None
        self.environ["djws.upgrade"] = upgrade
        try:
            # direct_call: the view waits with this call on its stack (see .stack).
            self.result = direct_call(self.application)(self.environ, self.start_response)
            if not upgrade.committed:
                self.process_result()  # Django refused: an ordinary HTTP response
                metrics.handshake(self.code)
                return
            # The socket was a WebSocket: what Django returns now is a sentinel
            # (djws.decorators.WebSocketResponse), never bytes for the client.
            status = getattr(self.result, "status_code", None)
            if status != 101:
                logger.error(
                    "%s returned a %s response after accepting a WebSocket; it was not sent",
                    self.environ.get("PATH_INFO"),
                    status,
                )
        finally:
            if upgrade.committed:
                # For the access log, and so that pywsgi writes no error page
                # onto the WebSocket if anything raised after the 101.
                self.status = "101 Switching Protocols"
                self.response_headers: list[tuple[str, str]] = []
                self.response_length = upgrade.response_length or 0
                metrics.handshake(101)
                self._log_connection(getattr(self.result, "websocket", None), address)
            close = getattr(self.result, "close", None)
            self.result = None
            if close is not None:
                close()

    def _check_rate(self, address: str) -> None:
        """Raise 429 if ``address`` starts handshakes faster than the limits allow."""
        limits = self.config.limits
        rate = limits.handshakes_per_second
        if rate is None:
            return
        wait = handshakes.take(address, rate, limits.handshake_burst or rate)
        if wait:
            message = f"Too many handshakes from this address: over {rate:g} a second."
            crossed("handshakes_per_second", address, message)
            raise HandshakeError(429, message, [("Retry-After", retry_after(wait))])

    def log_request(self) -> None:
        """gunicorn's access log line of the request, built only when it is written: with
        the access log off, gunicorn's handler would still build it (1 % of a reconnect
        storm's worker CPU)."""
        if access_log_enabled(self.server.log):
            super().log_request()

    def _log_connection(self, ws: Any, address: str) -> None:
        """One access-log line per connection: how it ended, how long, how much."""
        access_log = getattr(self.server.log, "access_log", None)
        if ws is None or access_log is None or not access_log_enabled(self.server.log):
            return
        access_log.info(
            '%s "%s" WebSocket closed %s%s after %.3f s: in %d messages %d B, out %d messages %d B',
            address,
            self.environ.get("PATH_INFO", ""),
            ws.close_code,
            f" ({ws.close_reason})" if ws.close_reason else "",
            time.time() - self.time_start,
            ws.messages_in,
            ws.bytes_in,
            ws.messages_out,
            ws.bytes_out,
        )

    def _refuse(self, exc: HandshakeError) -> None:
        metrics.handshake(exc.status)
        response = http.plain(exc.status, exc.message, exc.headers)
        self.status = f"{exc.status} {HTTPStatus(exc.status).phrase}"
        self.response_headers = []
        try:
            self.socket.sendall(response)
        except OSError:
            return
        self.response_length = len(response)


def access_log_enabled(log: Any) -> bool:
    """Whether gunicorn writes access lines: to ``--access-logfile``, and also through
    ``--log-config``/``--log-config-dict``/``--log-config-json`` or syslog. gunicorn
    25.2 and later answer it themselves; 25.1's ``access()`` asked the same in place."""
    enabled = getattr(log, "access_log_enabled", None)
    if enabled is not None:
        return bool(enabled)
    cfg = log.cfg
    return bool(
        cfg.accesslog
        or cfg.logconfig
        or cfg.logconfig_dict
        or cfg.logconfig_json
        or (cfg.syslog and not cfg.disable_redirect_access_to_syslog)
    )
