"""The gunicorn worker: gevent-websocket's, with djws's handler and lifecycle.

Use it from ``runwebsocket`` (which embeds gunicorn) or directly::

    gunicorn -k djws.worker.WebSocketWorker --worker-connections 10000 \\
        --no-control-socket project.wsgi:websocket

What it adds to ``GeventWebSocketWorker``:

* the patching of :mod:`djws.patching` (psycogreen, and a refusal to start when
  Django or psycopg was imported before gevent's patch);
* :class:`djws.server.handler.WebSocketHandler`, which defers the 101 to the
  view and keeps gunicorn's access log;
* a keepalive loop that pings silent clients and closes dead or idle ones
  (:mod:`djws.server.keepalive`);
* on SIGTERM, SIGINT or SIGQUIT, close 1001 "going away" to every open
  WebSocket at once (the connections of :mod:`djws.server.registry`), and drop
  connections that have not sent a request yet, instead of leaving sockets open
  until the graceful timeout and then cutting TCP without a close frame.

This module is imported by gunicorn's arbiter *before* any patching, so it
imports nothing from Django at module level.
"""

from __future__ import annotations

import gc
import os
import resource
import time
from typing import Any

import gevent
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker

from . import patching

__all__ = ["WebSocketWorker"]

KEEPALIVE_TICK = 1.0
# A worker holding thousands of connections has millions of long-lived objects;
# with CPython's default thresholds (700, 10, 10) full collections walked them
# all every few seconds and stalled broadcasts (5,000 subscribers: p99 217 ms,
# max 266 ms). Freezing what exists after start-up and collecting the young
# generation less often brought the p99 to 51 ms, the same as with no GC at all.
GC_THRESHOLDS = (10_000, 50, 100)


def raise_open_file_limit() -> None:
    """Raise the soft limit on open files to the hard limit: every socket is a file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class WebSocketWorker(GeventWebSocketWorker):  # type: ignore[misc] # no type hints
    """A gevent worker whose requests may become WebSockets accepted by Django views."""

    def patch(self) -> None:
        """Patch gevent (and psycopg2) before the application, and Django, load."""
        if "GEVENT_TRACK_GREENLET_TREE" not in os.environ:
            # Each greenlet would keep who spawned it and where (for gevent's
            # debugging tools): half a kilobyte for every connection.
            gevent.config.track_greenlet_tree = False
        patching.patch()
        patching.ensure_patched()
        raise_open_file_limit()
        super().patch()
        from .server.handler import WebSocketHandler

        self.wsgi_handler = WebSocketHandler

    def run(self) -> None:
        """Serve until told to stop; keep connections alive meanwhile."""
        # The application is loaded: Django, the urlconfs and the views are
        # permanent, so take them out of the garbage collector's way.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        keepalive = gevent.spawn(self._keepalive)
        try:
            super().run()
        finally:
            keepalive.kill(block=False)

    def _keepalive(self) -> None:
        from .conf import ServerSettings
        from .pool import pool
        from .server.keepalive import check_connections

        config = getattr(self.wsgi, "config", None) or ServerSettings.read()
        while self.alive:
            gevent.sleep(KEEPALIVE_TICK)
            now = time.monotonic()
            check_connections(now, config)
            pool.prune(now)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: stop accepting, say "going away" to every client, then drain."""
        super().handle_exit(sig, frame)
        gevent.spawn(self._going_away)

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGINT / SIGQUIT: say "going away" to every client, then exit quickly."""
        self.alive = False
        gevent.spawn(self._going_away_then_quit, sig, frame)

    def _going_away(self) -> int:
        from websockets.frames import CloseCode

        from .server.registry import registry

        registry.stopping = True
        registry.drop_waiting()
        connections = [ws for ws in registry if not ws.closed]
        for ws in connections:
            try:
                ws.close(CloseCode.GOING_AWAY, "server shutting down")
            except Exception:
                self.log.exception("Could not close %r", ws)
        return len(connections)

    def _going_away_then_quit(self, sig: int, frame: Any) -> None:
        from .server.registry import registry

        if self._going_away():
            deadline = time.monotonic() + 1.0
            while len(registry) and time.monotonic() < deadline:
                gevent.sleep(0.05)
        GeventWebSocketWorker.handle_quit(self, sig, frame)
