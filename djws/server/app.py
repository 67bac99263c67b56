"""gunicorn, embedded: the server process that ``runwebsocket`` starts.

:class:`WebSocketServer` is a ``gunicorn.app.base.BaseApplication`` configured
from a plain dict of options (no gunicorn command line, no config file) and
serving the WSGI application its factory builds in each worker (by dotted path,
as gunicorn names applications: ``runwebsocket`` passes
:func:`djws.wsgi.get_wsgi_websocket_application`) with
:class:`~.worker.WebSocketWorker`. The listening socket is normally created
by ``runwebsocket`` and inherited as ``fd://N``, so bind errors are reported by
the command, and an autoreload restart keeps the port.

Its :class:`Arbiter` reloads (``SIGHUP``) without a gap in service.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter as GunicornArbiter

__all__ = ["DEFAULT_OPTIONS", "Arbiter", "WebSocketServer"]

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


class Arbiter(GunicornArbiter):  # type: ignore[misc] # gunicorn has no type hints
    """gunicorn's arbiter, whose reloads leave no moment without a worker that accepts.

    On ``SIGHUP`` gunicorn starts new workers and stops the old ones at once;
    the new ones then take a while to load the application while nobody
    accepts, and every client that reconnects meanwhile waits in the listen
    queue, or overflows it. Here the old workers are stopped once every new
    one serves (its first heartbeat), it died, or the worker timeout passed;
    the arbiter waits for that as gunicorn's reload waits for old workers to
    exit, reaping meanwhile.
    """

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        #: pid -> its heartbeat file's time when it was spawned
        self.booting: dict[int, float] = {}

    def spawn_worker(self) -> int:
        """Fork a worker (only the arbiter returns from this) and note it as booting."""
        pid: int = super().spawn_worker()
        self.booting[pid] = self.WORKERS[pid].tmp.last_update()
        return pid

    def manage_workers(self) -> None:
        """Stop surplus (old) workers only when their replacements serve."""
        if len(self.WORKERS) > self.num_workers:
            deadline = time.monotonic() + self.timeout
            while self._replacements_booting() and time.monotonic() < deadline:
                self.reap_workers()
                time.sleep(0.05)
        super().manage_workers()

    def _replacements_booting(self) -> bool:
        for pid, stamp in list(self.booting.items()):
            worker = self.WORKERS.get(pid)
            if worker is None or worker.tmp.last_update() != stamp:
                del self.booting[pid]
        return bool(self.booting)


class WebSocketServer(BaseApplication):  # type: ignore[misc] # gunicorn has no type hints
    """gunicorn's arbiter serving djws's WSGI application."""

    def __init__(
        self, options: dict[str, Any], *, application: str, http: bool = False, static: bool = False
    ) -> None:
        self.options = {**DEFAULT_OPTIONS, **options}
        #: The dotted path of the function that builds the application.
        self.application = application
        self.http = http
        self.static = static
        super().__init__()

    def load_config(self) -> None:
        """Apply the options dict to gunicorn's configuration."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def run(self) -> None:
        """Run :class:`Arbiter` (gunicorn's ``run()``, with djws's arbiter)."""
        try:
            Arbiter(self).run()
        except RuntimeError as exc:
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.exit(1)

    def load(self) -> Any:
        """Load the application in each worker, after the worker patched gevent."""
        from django.utils.module_loading import import_string

        application = import_string(self.application)(http=self.http, static=self.static)
        application.start_serving()
        return application
