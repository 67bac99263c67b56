"""Prometheus metrics of a ``runwebsocket`` server (optional: ``pip install 'djws[metrics]'``).

``runwebsocket --metrics 127.0.0.1:9108`` turns them on: every worker counts,
and the server's main process answers ``GET`` on that address of its own
(:func:`serve`) with the figures of the whole server, through
``prometheus_client``'s multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, a
directory the command makes unless it is set). Only when asked explicitly,
with a path (``--metrics /metrics``), are they served on the WebSocket port
instead, by any worker: then put the path behind your proxy's access rules.

=====================================  ====================================================
metric                                 what
=====================================  ====================================================
``djws_connections_open``              accepted connections open now (all workers)
``djws_handshakes_total{status}``      handshakes answered: 101, or the HTTP refusal
``djws_messages_total{direction}``     messages received (``in``) and sent (``out``)
``djws_bytes_total{direction}``        bytes received and sent, frames included
``djws_closes_total{code}``            connections ended, by close code (1006: dropped)
``djws_send_buffer_closes_total``      clients closed (1008) for not reading a broadcast
``djws_limit_crossings_total{limit}``  clients over a limit of ``WEBSOCKET_LIMITS``
``djws_broadcast_lag_seconds``         from publish() to delivery in this worker (Redis,
                                       PostgreSQL: across processes)
``djws_broadcast_reconnects_total``    reconnections of a worker to the broadcast backend
``djws_broadcast_replayed_total``      messages delivered from the history (gaps, resumes)
``djws_broadcast_outbox_total``        committed messages the backend did not take at once:
``{outcome}``                          ``kept`` in the outbox, ``delivered`` from it later,
                                       ``dropped`` (outbox full, or lost at exit)
=====================================  ====================================================

The hot paths only add to plain integers (:data:`tally`); the worker's
keepalive loop moves them to the shared counters once a second (:func:`flush`).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ENV",
    "Tally",
    "buffer_full",
    "closed",
    "enabled",
    "flush",
    "handshake",
    "lag",
    "limit_crossed",
    "mark_dead",
    "opened",
    "outbox",
    "reconnected",
    "render",
    "replayed",
    "serve",
    "start",
    "tally",
]

#: Set by ``runwebsocket --metrics`` for its workers: the address or path served.
ENV = "DJWS_METRICS_PATH"


class Tally:
    """Counts kept as plain integers by the hot paths, until the next :func:`flush`."""

    __slots__ = ("bytes_in", "bytes_out", "messages_in", "messages_out")

    def __init__(self) -> None:
        self.messages_in = self.messages_out = self.bytes_in = self.bytes_out = 0


#: This process's counts since the last flush.
tally = Tally()
_metrics: Any = None


def enabled() -> bool:
    """Whether this process reports metrics."""
    return _metrics is not None


def start() -> str | None:
    """Create this worker's metrics if ``runwebsocket --metrics`` asked.

    Return the path to serve them at on the WebSocket port, if that was asked.
    """
    global _metrics
    where = os.environ.get(ENV)
    path = where if where and where.startswith("/") else None
    if not where or _metrics is not None:
        return path
    from prometheus_client import Counter, Gauge, Histogram

    class Metrics:
        open = Gauge(
            "djws_connections_open", "Accepted connections open now", multiprocess_mode="livesum"
        )
        handshakes = Counter("djws_handshakes", "Handshakes answered, by status", ["status"])
        messages = Counter("djws_messages", "Messages, in and out", ["direction"])
        bytes = Counter("djws_bytes", "Bytes of frames, in and out", ["direction"])
        closes = Counter("djws_closes", "Connections ended, by close code", ["code"])
        buffer_closes = Counter(
            "djws_send_buffer_closes", "Clients closed for not reading a broadcast"
        )
        limits = Counter("djws_limit_crossings", "Clients over a limit", ["limit"])
        lag = Histogram(
            "djws_broadcast_lag_seconds",
            "From publish() to delivery in this worker",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        reconnects = Counter("djws_broadcast_reconnects", "Reconnections to the backend")
        replays = Counter("djws_broadcast_replayed", "Messages delivered from the history")
        outbox = Counter(
            "djws_broadcast_outbox",
            "Committed messages the backend did not take at once, by outcome",
            ["outcome"],
        )

    _metrics = Metrics
    return path


def flush() -> None:
    """Move :data:`tally` to the shared counters (once a second, from the worker)."""
    if _metrics is None:
        return
    for direction, messages, size in (
        ("in", tally.messages_in, tally.bytes_in),
        ("out", tally.messages_out, tally.bytes_out),
    ):
        if messages:
            _metrics.messages.labels(direction).inc(messages)
        if size:
            _metrics.bytes.labels(direction).inc(size)
    tally.messages_in = tally.messages_out = tally.bytes_in = tally.bytes_out = 0


def handshake(status: int) -> None:
    """A handshake was answered with ``status`` (101: accepted)."""
    if _metrics is not None:
        _metrics.handshakes.labels(str(status)).inc()


def opened() -> None:
    """A connection was accepted."""
    if _metrics is not None:
        _metrics.open.inc()


def closed(code: int | None) -> None:
    """A connection ended with ``code``."""
    if _metrics is not None:
        _metrics.open.dec()
        _metrics.closes.labels(str(code)).inc()


def buffer_full() -> None:
    """A client was closed for not reading a broadcast."""
    if _metrics is not None:
        _metrics.buffer_closes.inc()


def limit_crossed(limit: str) -> None:
    """A client crossed ``limit`` (a key of ``WEBSOCKET_LIMITS``)."""
    if _metrics is not None:
        _metrics.limits.labels(limit).inc()


def lag(seconds: float) -> None:
    """A message published ``seconds`` ago was delivered here."""
    if _metrics is not None:
        _metrics.lag.observe(max(seconds, 0.0))


def reconnected() -> None:
    """The broadcast backend connection came back."""
    if _metrics is not None:
        _metrics.reconnects.inc()


def replayed(count: int) -> None:
    """``count`` messages were delivered from the history."""
    if _metrics is not None and count:
        _metrics.replays.inc(count)


def outbox(outcome: str) -> None:
    """A committed message was ``kept`` in the outbox, ``delivered`` from it, or ``dropped``."""
    if _metrics is not None:
        _metrics.outbox.labels(outcome).inc()


def render() -> tuple[bytes, str]:
    """The whole server's metrics, every worker's added up, and their content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    flush()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(address: str) -> Any:
    """Answer ``GET`` on ``address`` (``host:port``) with :func:`render`; return the server.

    The server's main process calls it (gevent's WSGI server: it answers while
    gunicorn's arbiter waits); ``close()`` it in each worker after the fork.
    """
    from gevent.pywsgi import WSGIServer

    host, _, port = address.rpartition(":")
    server = WSGIServer((host.strip("[]") or "127.0.0.1", int(port)), _metrics_app, log=None)
    server.start()
    return server


def _metrics_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
        return [b""]
    body, content_type = render()
    start_response("200 OK", [("Content-Type", content_type)])
    return [body]


def mark_dead(pid: int) -> None:
    """Forget the live gauges of a worker that exited (gunicorn's ``child_exit``)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
