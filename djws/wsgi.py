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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import django
from django.core.signals import request_finished

from . import db
from .conf import ServerSettings, settings
from .dispatcher import WebSocketDispatcher
from .patching import ensure_patched
from .pool import install as install_pool
from .protocol import http
from .server.registry import registry
from .server.stack import direct_call

__all__ = ["WebSocketRouter", "get_wsgi_websocket_application"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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

    def start_serving(self) -> None:
        """Check the process, read the settings, set up database hygiene."""
        ensure_patched()
        self.config = ServerSettings.read()
        request_finished.connect(db.close_all, dispatch_uid="djws.db.close_all")
        install_pool(settings.WEBSOCKET_DB_POOL_SIZE)
        db.install()
        registry.serving = True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.config is None:
            self.start_serving()
        if "djws.upgrade" in environ:
            return self._websocket_call(environ, start_response)
        if self.http_app is not None:
            return self.http_app(environ, start_response)
        return upgrade_required(start_response)


def get_wsgi_websocket_application(*, http: bool = False, static: bool = False) -> WebSocketRouter:
    """Set Django up and return the application a djws worker serves.

    ``http``: also serve plain HTTP requests with ``WSGI_APPLICATION``.
    ``static``: with ``http``, serve static files the way ``runserver`` does.
    """
    django.setup(set_prefix=False)
    http_app = None
    if http:
        from django.core.servers.basehttp import get_internal_wsgi_application

        http_app = get_internal_wsgi_application()
        if static:
            from django.contrib.staticfiles.handlers import StaticFilesHandler

            http_app = StaticFilesHandler(http_app)
    return WebSocketRouter(WebSocketDispatcher(), http_app)
