"""gunicorn, embedded: the server process that ``runwebsocket`` starts.

:class:`WebSocketServer` is a ``gunicorn.app.base.BaseApplication`` configured
from a plain dict of options (no gunicorn command line, no config file) and
serving :func:`djws.wsgi.get_wsgi_websocket_application` with
:class:`djws.worker.WebSocketWorker`. The listening socket is normally created
by ``runwebsocket`` and inherited as ``fd://N``, so bind errors are reported by
the command, and an autoreload restart keeps the port.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

__all__ = ["DEFAULT_OPTIONS", "WebSocketServer"]

#: gunicorn settings djws changes from gunicorn's defaults, and why.
DEFAULT_OPTIONS: dict[str, Any] = {
    "worker_class": "djws.worker.WebSocketWorker",
    # gunicorn's default of 1000 connections per worker is far too low for
    # mostly-idle WebSockets; a greenlet per connection costs a few KiB.
    "worker_connections": 10000,
    # The control socket lives at one shared default path, and gunicorn deletes
    # an existing one at start: two servers on one machine would fight over it.
    "control_socket_disable": True,
    # Clients get a 1001 close at once; this only bounds views that ignore it.
    "graceful_timeout": 10,
    "errorlog": "-",
    "proc_name": "djws",
}


class WebSocketServer(BaseApplication):  # type: ignore[misc] # gunicorn has no type hints
    """gunicorn's arbiter serving djws's WSGI application."""

    def __init__(
        self, options: dict[str, Any], *, http: bool = False, static: bool = False
    ) -> None:
        self.options = {**DEFAULT_OPTIONS, **options}
        self.http = http
        self.static = static
        super().__init__()

    def load_config(self) -> None:
        """Apply the options dict to gunicorn's configuration."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Load the application in each worker, after the worker patched gevent."""
        from ..wsgi import get_wsgi_websocket_application

        application = get_wsgi_websocket_application(http=self.http, static=self.static)
        application.start_serving()
        return application
