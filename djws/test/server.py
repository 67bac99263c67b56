"""The in-process server half of a test connection: djws's real handler and dispatcher.

:class:`InProcessServer` handles one socket of a socket pair in a greenlet of
the test's own thread, with :class:`~djws.server.handler.WebSocketHandler`
(HTTP parsing, handshake validation, the deferred 101) and the project's
middleware and ``WEBSOCKET_URLCONF`` through
:class:`~djws.dispatcher.WebSocketDispatcher`. Django's ``close_old_connections``
is kept away from the request signals, as Django's own test client does, so
``TestCase``'s transaction survives.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from gevent import pywsgi

from ..dispatcher import WebSocketDispatcher
from ..server.handler import WebSocketHandler

__all__ = ["CLIENT_ADDRESS", "ENVIRON_KEY", "InProcessServer", "raise_if_failed"]

logger = logging.getLogger("djws.test")

#: The address the in-process server pretends the client connects from.
CLIENT_ADDRESS = ("127.0.0.1", 50000)
#: The environ key naming the test connection a request belongs to.
ENVIRON_KEY = "djws.test.websocket"


class _AccessLog:
    """What gunicorn's handler expects as ``server.log``: access lines go to logging."""

    access_log_enabled = True

    def access(
        self, resp: Any, req_headers: Any, environ: dict[str, Any], request_time: Any
    ) -> None:
        logger.debug(
            "%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), resp.status
        )


class InProcessServer(pywsgi.WSGIServer):
    """An in-process server for one connection: never listens, only handles a socket."""

    def __init__(self, websocket: Any) -> None:
        """``websocket``: the test's client side, put in the environ for the view's errors."""
        super().__init__(
            ("127.0.0.1", 0),
            _TestDispatcher(),
            handler_class=_Handler,
            environ={"SERVER_NAME": "testserver", "SERVER_PORT": "80"},
            log=None,
            error_log=logger,
        )
        self.log = _AccessLog()  # type: ignore[assignment] # what gunicorn's handler calls
        self.websocket = websocket


class _Handler(WebSocketHandler):
    """djws's handler, with the test connection in the environ (for its exceptions)."""

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[ENVIRON_KEY] = self.server.websocket
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

        response.close = close_keeping_connections  # type: ignore[method-assign]
        return response

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        """Reattach ``close_old_connections`` as soon as ``request_started`` was sent.

        The view may run for the rest of the test; a test that opens no WebSocket
        meanwhile must not find the receiver missing.
        """
        request_started.connect(close_old_connections)
        return super().get_response(request)


def raise_if_failed(greenlet: gevent.Greenlet[..., Any], path: str) -> None:
    """Fail the test if djws's server itself raised while it served ``path``.

    A view's exception is Django's to answer (a 1011 close, and the test client
    re-raises it); an exception out of the handler is a server bug, which would
    otherwise only reach the hub's stderr while the test passed.
    """
    if greenlet.dead and greenlet.exception is not None:
        error = greenlet.exception
        raise AssertionError(f"djws's server raised while serving {path}: {error!r}") from error
