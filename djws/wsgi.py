"""The WSGI application a djws worker serves.

``get_wsgi_websocket_application()`` is what ``runwebsocket`` loads and what a
project's ``wsgi.py`` exposes for running gunicorn directly::

    # project/wsgi.py
    from djws.wsgi import get_wsgi_websocket_application
    websocket = get_wsgi_websocket_application()

    $ gunicorn -k djws.worker.WebSocketWorker project.wsgi:websocket

Upgrade requests go to the :class:`~djws.dispatcher.WebSocketDispatcher`. Other
requests get ``426 Upgrade Required``, or, with ``http=True``, go to the
project's ordinary WSGI application (``WSGI_APPLICATION``): one port for both,
as Procfile platforms need.

Only djws's worker can serve it: its handler defers the ``101`` to the view.
gevent-websocket's own worker, the one django-websocket's README named, answers ``101``
before Django runs; under it the application refuses to load, naming the right
``-k``. Under any other server (gunicorn's plain gevent worker...) WebSocket
handshakes are answered ``500``, and logged, with the same advice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

import django
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished
from django.urls import Resolver404, resolve
from websockets.frames import Close, CloseCode

from . import db, metrics, sessions
from .broadcast.backends import backends
from .broadcast.hub import hub
from .conf import ServerSettings, require_app, settings
from .dispatcher import WebSocketDispatcher
from .eventstream import is_event_stream_request
from .pool import install as install_pool
from .protocol import http
from .protocol.handshake import is_upgrade_request
from .server.patching import ensure_patched
from .server.stack import direct_call

__all__ = ["WRONG_SERVER", "WebSocketRouter", "get_wsgi_websocket_application"]

logger = logging.getLogger("djws.server")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: What to run instead of a server that cannot defer the 101 to djws's views.
WRONG_SERVER = (
    "Use djws's worker: gunicorn -k djws.worker.WebSocketWorker yourproject.wsgi:websocket "
    "(or python manage.py runwebsocket)."
)
_OLD_WORKER = "geventwebsocket.gunicorn.workers"


def upgrade_required(start_response: Callable[..., Any]) -> list[bytes]:
    """Answer a plain HTTP request with 426 and a short human explanation."""
    body = http.UPGRADE_REQUIRED.encode()
    start_response(
        "426 Upgrade Required",
        [*http.UPGRADE_REQUIRED_HEADERS, *http.plain_headers(body, close=False)],
    )
    return [body]


class WebSocketRouter:
    """Send WebSocket upgrades to one application and other requests to another.

    The first request checks that the process was patched in time: a project's
    ``wsgi.py`` may build this object at import in any process (``runserver``
    imports it too), but only a patched one may serve it.
    """

    def __init__(self, websocket_app: WSGIApp, http_app: WSGIApp | None = None) -> None:
        self.websocket_app = websocket_app
        self.http_app = http_app
        # Called without a C frame: a waiting view keeps this call on its stack.
        self._websocket_call = direct_call(websocket_app)
        #: The server's settings, read once by :meth:`start_serving`.
        self.config: ServerSettings | None = None
        #: Where the metrics are served (``runwebsocket --metrics``), or None.
        self.metrics_path: str | None = None

    def start_serving(self) -> None:
        """Check the process, read the settings, set up database hygiene."""
        ensure_patched()
        self.config = ServerSettings.read()
        request_finished.connect(db.close_all, dispatch_uid="djws.db.close_all")
        install_pool(settings.WEBSOCKET_DB_POOL_SIZE)
        db.install()
        hub.verifier = sessions.verify  # the session checks of verify orders
        backends.serve(hub)
        self.metrics_path = metrics.start()

    def _event_stream(self, environ: dict[str, Any]) -> bool:
        """Whether a request for Server-Sent Events is for a view of ``WEBSOCKET_URLCONF``."""
        if not is_event_stream_request(environ):
            return False
        try:
            resolve(environ.get("PATH_INFO", "/"), urlconf=settings.WEBSOCKET_URLCONF)
        except Resolver404:
            return self.http_app is None  # nowhere else to go: its 404 comes from there
        return True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.config is None:
            self.start_serving()
        if self.metrics_path is not None and environ.get("PATH_INFO") == self.metrics_path:
            body, content_type = metrics.render()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        if "djws.upgrade" in environ or self._event_stream(environ):
            return self._websocket_call(environ, start_response)
        if "djws.server" not in environ and (
            "wsgi.websocket" in environ or is_upgrade_request(environ)
        ):
            return wrong_server(environ, start_response)
        if self.http_app is not None:
            return self.http_app(environ, start_response)
        return upgrade_required(start_response)


def wrong_server(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Refuse a handshake that reached djws through another server than djws's worker.

    gevent-websocket's handler has sent its ``101`` already (``wsgi.websocket``):
    close with 1011 and a reason naming the worker. Any other server has not
    answered yet: 500.
    """
    logger.error(
        "WebSocket handshake to %s refused: this server is not djws's gunicorn worker, "
        "so djws views can neither accept nor refuse handshakes. %s",
        environ.get("PATH_INFO"),
        WRONG_SERVER,
    )
    opened = environ.get("wsgi.websocket")
    if opened is not None:
        reason = "wrong gunicorn worker: use -k djws.worker.WebSocketWorker"
        close = Close(CloseCode.INTERNAL_ERROR, reason).serialize()
        opened.send_frame(close, opened.OPCODE_CLOSE)
        opened.close()  # its own close frame, without a code, comes second: ignored
        return []
    body = f"500 Internal Server Error\n\n{WRONG_SERVER}\n".encode()
    start_response("500 Internal Server Error", http.plain_headers(body))
    return [body]


def refuse_old_worker() -> None:
    """Raise ImproperlyConfigured under gevent-websocket's own gunicorn worker.

    gunicorn imports the worker class before it loads the application, and
    djws's worker imports gevent-websocket's: only the old worker, used alone,
    leaves its module loaded without djws's.
    """
    if _OLD_WORKER in sys.modules and "djws.worker" not in sys.modules:
        raise ImproperlyConfigured(
            "gunicorn is running gevent-websocket's worker "
            "(-k geventwebsocket.gunicorn.workers.GeventWebSocketWorker), which answers "
            "every handshake with 101 before Django runs, so djws views can neither accept "
            f"nor refuse it. {WRONG_SERVER}"
        )


def get_wsgi_websocket_application(*, http: bool = False, static: bool = False) -> WebSocketRouter:
    """Set Django up and return the application a djws worker serves.

    ``http``: also serve plain HTTP requests with ``WSGI_APPLICATION``.
    ``static``: with ``http``, serve static files the way ``runserver`` does.
    """
    refuse_old_worker()
    django.setup(set_prefix=False)
    require_app("get_wsgi_websocket_application()")
    http_app = None
    if http:
        from django.core.servers.basehttp import get_internal_wsgi_application

        http_app = get_internal_wsgi_application()
        if static:
            from django.contrib.staticfiles.handlers import StaticFilesHandler

            http_app = StaticFilesHandler(http_app)
    return WebSocketRouter(WebSocketDispatcher(), http_app)
