"""The gunicorn worker: gevent-websocket's, with djws's handler and lifecycle.

Use it from ``runwebsocket`` (which embeds gunicorn) or directly::

    gunicorn -k djws.worker.WebSocketWorker --worker-connections 10000 \\
        --no-control-socket project.wsgi:websocket

What it adds to ``GeventWebSocketWorker``:

* the patching of :mod:`djws.server.patching` (psycogreen, and a refusal to start when
  Django or psycopg was imported before gevent's patch);
* :class:`.handler.WebSocketHandler`, which defers the 101 to the
  view and keeps gunicorn's access log;
* a keepalive loop that pings silent clients and closes dead or idle ones
  (:mod:`djws.server.keepalive`);
* on SIGTERM, SIGINT or SIGQUIT, stop accepting at once (gunicorn's own loop
  would accept for up to a second more, only to answer 503: in a reload, the
  new workers are already accepting), close 1001 "going away" to every open
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
from gunicorn.workers.ggevent import PyWSGIServer

from . import patching

__all__ = ["WebSocketWorker", "collect_when_quiet"]

KEEPALIVE_TICK = 1.0
# The cyclic garbage collector. A finished connection is freed by reference
# counting alone (tests/test_memory.py), so the collector only looks for cycles
# an application makes. Measured in a worker with 10,000 connections open
# (bench/churn.py pauses; docs/topics/operations.rst): a collection of the young
# generations at CPython's default thresholds takes at most 2 ms of CPU; a full
# one walks every object the connections hold (about 70 each) and takes 370 ms.
# So the young generations keep CPython's thresholds, automatic full collections
# are off (a third threshold that is never reached), and the worker runs a full
# collection itself when it is quiet: at most once a minute, with at most
# GC_QUIET_CONNECTIONS open (250: about 3 ms), and only if the young generations
# passed something on since the last one. Objects loaded at start-up (Django,
# the urlconfs, the views: some 60,000) are frozen, out of every collection.
GC_THRESHOLDS = (700, 10, 1_000_000)
GC_QUIET_CONNECTIONS = 250
GC_FULL_INTERVAL = 60.0


def raise_open_file_limit() -> None:
    """Raise the soft limit on open files to the hard limit: every socket is a file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def collect_when_quiet() -> bool:
    """Run a full collection if few connections are open and it may find something.

    Return whether it ran.
    """
    from .registry import registry

    if len(registry) > GC_QUIET_CONNECTIONS or not gc.get_count()[2]:
        return False
    gc.collect()
    return True


class WebSocketWorker(GeventWebSocketWorker):  # type: ignore[misc] # no type hints
    """A gevent worker whose requests may become WebSockets accepted by Django views."""

    #: The pywsgi servers of this worker's listening sockets, once it runs.
    servers: tuple[Any, ...] = ()

    def server_class(self, *args: Any, **kwargs: Any) -> Any:
        """Make gunicorn's pywsgi server for a listening socket, and keep it."""
        server = PyWSGIServer(*args, **kwargs)
        self.servers = (*self.servers, server)
        return server

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
        from .handler import WebSocketHandler

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
        from .. import metrics
        from ..conf import ServerSettings
        from ..pool import pool
        from .keepalive import check_connections

        config = getattr(self.wsgi, "config", None) or ServerSettings.read()
        next_full_collection = time.monotonic() + GC_FULL_INTERVAL
        while self.alive:
            gevent.sleep(KEEPALIVE_TICK)
            now = time.monotonic()
            check_connections(now, config)
            pool.prune(now)
            metrics.flush()
            if now >= next_full_collection:
                next_full_collection = now + GC_FULL_INTERVAL
                collect_when_quiet()

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

        from .registry import registry

        registry.stopping = True
        for server in self.servers:
            server.stop_accepting()
        registry.drop_waiting()
        connections = [ws for ws in registry if not ws.closed]
        for ws in connections:
            try:
                ws.close(CloseCode.GOING_AWAY, "server shutting down")
            except Exception:
                self.log.exception("Could not close %r", ws)
        return len(connections)

    def _going_away_then_quit(self, sig: int, frame: Any) -> None:
        from .registry import registry

        if self._going_away():
            deadline = time.monotonic() + 1.0
            while len(registry) and time.monotonic() < deadline:
                gevent.sleep(0.05)
        GeventWebSocketWorker.handle_quit(self, sig, frame)
