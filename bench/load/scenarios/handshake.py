"""The handshake scenario: connection churn through the full middleware stack.

``concurrency`` (50) loops, each opens a WebSocket to ``/whoami`` (with the
``sessionid`` cookie, or without for ``handshake-anon``), waits for the user's
name, closes cleanly (close frame, then the server's) and starts again.
"""

from __future__ import annotations

from typing import Any

from .. import perf
from ..engine import Conn, Engine
from ..meters import CpuMeter, latency_summary
from .whoami import WhoamiHandler


def scenario_handshake(cfg: dict[str, Any]) -> dict[str, Any]:
    """Connection churn: open, wait for the user's name, close cleanly, repeat."""
    handler = WhoamiHandler(cfg.get("expect_user"))
    engine = Engine(cfg["port"], handler, cookie=cfg.get("cookie"))
    engine.handshake_timeout = 15.0
    path = cfg["path"]
    request = engine.request_bytes(path)
    warmup, duration = cfg.get("warmup", 2.0), cfg.get("duration", 10.0)
    concurrency = cfg.get("concurrency", 50)
    start = perf()
    measure_from, stop_at = start + warmup, start + warmup + duration
    latencies: list[float] = []
    counts = {"done": 0, "failed": 0, "attempts": 0}
    attempt_cap = 5_000_000

    def launch() -> None:
        if perf() < stop_at and counts["attempts"] < attempt_cap:
            counts["attempts"] += 1
            if engine.open(path, request) is None:
                counts["failed"] += 1

    def ready(conn: Conn, now: float) -> None:
        if measure_from <= now < stop_at:
            counts["done"] += 1
            latencies.append(now - conn.started)
        engine.close(conn, wait=True)

    def gone(conn: Conn, now: float, error: str | None) -> None:
        if error and measure_from <= now < stop_at:
            counts["failed"] += 1
        launch()

    handler.on_ready = ready
    handler.on_gone = gone
    for _ in range(concurrency):
        launch()
    engine.run(lambda: perf() >= measure_from, measure_from + 1.0)
    auth_ok_start = handler.auth_ok
    meter = CpuMeter(cfg.get("server_pid"))
    engine.run(lambda: perf() >= stop_at, stop_at + 1.0)
    cpu = meter.result()
    auth_ok = handler.auth_ok - auth_ok_start
    engine.run(lambda: not engine.conns, perf() + 10.0)
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return {
        "ok": counts["done"] > 0,
        "concurrency": concurrency,
        "handshakes": counts["done"],
        "duration_s": duration,
        "handshakes_per_s": round(counts["done"] / duration, 1),
        "auth_ok": auth_ok,
        "auth_bad": handler.auth_bad,
        "failed": counts["failed"],
        **latency_summary(latencies),
        "errors": engine.errors,
        **cpu,
    }
