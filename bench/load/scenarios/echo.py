"""The echo scenario: throughput and round-trip latency of a closed loop.

``connections`` (100) connections to the echo path each send a ``size``-byte (64)
text message, wait for the echo, and send the next. After ``warmup`` seconds it
counts echoes for ``duration`` seconds: messages/s, p50/p99 round trip. The echo
comes back as one frame the engine recognises whole (``Conn.fast``).
"""

from __future__ import annotations

from typing import Any

from .. import log, perf
from ..engine import OPEN, Conn, Engine, Handler
from ..frames import OP_TEXT, mask_frame, server_frame
from ..meters import CpuMeter, latency_summary


class EchoHandler(Handler):
    """Closed loop: each connection has one message in flight at a time."""

    def __init__(self, engine_ref: list[Engine], payload: bytes) -> None:
        self.engine_ref = engine_ref
        self.frame = mask_frame(OP_TEXT, payload)
        self.reply = server_frame(OP_TEXT, payload)
        self.payload = payload
        self.measure_from = float("inf")
        self.stop_at = float("inf")
        self.latencies: list[float] = []
        self.count = 0
        self.mismatches = 0
        self.in_flight = 0

    def on_open(self, conn: Conn, now: float) -> None:
        conn.fast = self.reply

    def start(self, conn: Conn) -> None:
        """Send the first message on ``conn``."""
        self.in_flight += 1
        conn.extra = True
        conn.sent_at = perf()
        self.engine_ref[0].send(conn, self.frame)

    def on_fast(self, conn: Conn, now: float) -> None:
        self.in_flight -= 1
        conn.extra = False
        if self.measure_from <= now < self.stop_at:
            self.latencies.append(now - conn.sent_at)
            self.count += 1
        if now < self.stop_at:
            self.in_flight += 1
            conn.extra = True
            conn.sent_at = perf()
            self.engine_ref[0].send(conn, self.frame)

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        if payload != self.payload:
            self.mismatches += 1
        self.on_fast(conn, now)

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        if conn.extra:
            conn.extra = False
            self.in_flight -= 1


def scenario_echo(cfg: dict[str, Any]) -> dict[str, Any]:
    """N connections in closed loop sending a fixed text message: msgs/s and latency."""
    ref: list[Engine] = []
    payload = (b"djws-bench-echo-" * 8)[: cfg.get("size", 64)]
    handler = EchoHandler(ref, payload)
    engine = Engine(cfg["port"], handler)
    ref.append(engine)
    n = cfg.get("connections", 100)
    conns = engine.open_many(cfg["path"], n, n, perf() + 60.0, lambda c: c.state == OPEN)
    log(f"echo: {len(conns)}/{n} connections open on {cfg['path']}")
    if not conns:
        return {"ok": False, "error": "no connection opened", "errors": engine.errors}
    warmup, duration = cfg.get("warmup", 2.0), cfg.get("duration", 10.0)
    start = perf()
    handler.measure_from = start + warmup
    handler.stop_at = start + warmup + duration
    for conn in conns:
        handler.start(conn)
    engine.run(lambda: perf() >= handler.measure_from, handler.measure_from + 1.0)
    meter = CpuMeter(cfg.get("server_pid"))
    engine.run(lambda: perf() >= handler.stop_at, handler.stop_at + 1.0)
    cpu = meter.result()
    engine.run(lambda: handler.in_flight <= 0, perf() + 5.0)
    unanswered = handler.in_flight
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return {
        "ok": True,
        "connections": len(conns),
        "messages": handler.count,
        "duration_s": duration,
        "msgs_per_s": round(handler.count / duration, 1),
        **latency_summary(handler.latencies),
        "mismatches": handler.mismatches,
        "unanswered_at_end": unanswered,
        "errors": engine.errors,
        **cpu,
    }
