"""The flood scenario: fairness inside one worker while one client floods it.

``others`` well-behaved clients each send a 16-byte message ``rate`` times a second
and time its echo; a new connection is opened every ``probe_interval`` seconds and
timed to its 101. First for ``duration`` seconds alone ("quiet"), then as long
again while one more connection writes small frames as fast as the server reads
them and discards the echoes ("flood").
"""

from __future__ import annotations

from typing import Any

from .. import log, perf
from ..engine import CLOSED, OPEN, Conn, Engine, Handler
from ..frames import OP_TEXT, mask_frame, server_frame
from ..meters import CpuMeter, latency_summary


class FloodHandler(Handler):
    """The flood scenario's well-behaved clients: one echo at a time, each on its schedule."""

    def __init__(self, frame: bytes, reply: bytes) -> None:
        self.frame = frame
        self.reply = reply
        self.phase = "quiet"  # "quiet", then "flood"
        self.latencies: dict[str, list[float]] = {"quiet": [], "flood": []}
        self.handshakes: dict[str, list[float]] = {"quiet": [], "flood": []}
        self.mismatches = 0
        self.late = 0  # a message still unanswered when its next one was due

    def on_open(self, conn: Conn, now: float) -> None:
        conn.fast = self.reply
        if conn.expect:  # a new handshake, timed in the phase it started in, then closed
            self.handshakes[conn.expect].append(now - conn.started)
            conn.expect = "done"

    def on_fast(self, conn: Conn, now: float) -> None:
        if conn.extra is not None:  # (phase, sent at): timed however late the echo comes
            phase, sent_at = conn.extra
            self.latencies[phase].append(now - sent_at)
            conn.extra = None

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        if conn.discard:
            return
        if payload != self.reply[2:]:
            self.mismatches += 1
        self.on_fast(conn, now)


def scenario_flood(cfg: dict[str, Any]) -> dict[str, Any]:
    """One client floods an echo endpoint; the others' echo latency and new handshakes.

    ``others`` clients each send one small message ``rate`` times a second (staggered)
    and time its echo; a new connection is opened every ``probe_interval`` seconds and
    timed to its 101. First ``duration`` seconds without the flood, then as long with
    one more client that writes small frames as fast as the server takes them and
    reads (and discards) the echoes.
    """
    payload = b"djws-flood-check"
    handler = FloodHandler(mask_frame(OP_TEXT, payload), server_frame(OP_TEXT, payload))
    engine = Engine(cfg["port"], handler)
    path = cfg["path"]
    n = cfg.get("others", 50)
    rate = cfg.get("rate", 2.0)
    duration = cfg.get("duration", 10.0)
    probe_interval = cfg.get("probe_interval", 0.2)
    conns = engine.open_many(path, n, n, perf() + 60.0, lambda c: c.state == OPEN)
    log(f"flood: {len(conns)}/{n} clients open on {path}")
    if len(conns) < n:
        error = f"{len(conns)} of {n} clients opened"
        return {"ok": False, "error": error, "errors": engine.errors}
    flood_payload = b"flood" * 2
    block = mask_frame(OP_TEXT, flood_payload) * 4096  # 64 KiB of 16-byte frames
    flooder: Conn | None = None
    sent_blocks = 0
    due = {conn.fd: perf() + i / (n * rate) for i, conn in enumerate(conns)}
    period = 1.0 / rate

    def tick(now: float) -> None:
        nonlocal sent_blocks
        for conn in conns:
            if conn.state == OPEN and now >= due[conn.fd]:
                if conn.extra is not None:
                    handler.late += 1  # still waiting: the wait is measured when it ends
                else:
                    conn.extra = (handler.phase, now)
                    engine.send(conn, handler.frame)
                due[conn.fd] += period
        if flooder is not None and flooder.state == OPEN and not flooder.wbuf:
            engine.send(flooder, block)
            sent_blocks += 1

    def phase(name: str) -> dict[str, Any]:
        handler.phase = name
        end = perf() + duration
        next_probe = perf()
        meter = CpuMeter(cfg.get("server_pid"))
        for _ in range(100_000_000):
            now = perf()
            if now >= end:
                break
            if now >= next_probe:
                probe = engine.open(path)
                if probe is not None:
                    probe.expect = name
                next_probe = now + probe_interval
            tick(now)
            engine.poll(0.0005 if flooder is not None else 0.001)
            for conn in list(engine.conns.values()):
                if conn.expect == "done":
                    conn.expect = None
                    engine.close(conn, wait=False)
        cpu = meter.result()
        if flooder is not None:
            engine.close(flooder, wait=False)
        # What was sent (or opened) in this phase and is still unanswered is timed to
        # its answer, however late: a frozen server shows as seconds, not as no sample.
        engine.run(
            lambda: (
                all(c.extra is None for c in conns)
                and not any(c.expect == name for c in engine.conns.values())
            ),
            perf() + 60.0,
        )
        latencies = handler.latencies[name]
        handshakes = latency_summary(handler.handshakes[name])
        return {
            **{f"{name}_{k}": v for k, v in latency_summary(latencies).items()},
            f"{name}_handshake_p50_ms": handshakes["p50_ms"],
            f"{name}_handshake_p99_ms": handshakes["p99_ms"],
            f"{name}_handshake_max_ms": handshakes["max_ms"],
            f"{name}_handshakes": handshakes["samples"],
            f"{name}_cpu_server_percent": cpu["cpu_server_percent"],
        }

    result: dict[str, Any] = {"ok": True, "others": n, "rate_per_client": rate}
    result.update(phase("quiet"))
    flooder = engine.open(path)
    if flooder is None or not engine.run(lambda: flooder.state >= OPEN, perf() + 30.0):
        return {**result, "ok": False, "error": "the flooder did not open", "errors": engine.errors}
    flooder.discard = True
    handler.phase = "flood"
    result.update(phase("flood"))
    echoed = flooder.messages // len(server_frame(OP_TEXT, flood_payload))
    result.update(
        {
            "flood_sent_per_s": round(sent_blocks * 4096 / duration),
            "flood_echoed_per_s": round(echoed / duration),
            "flooder_closed": flooder.closed_reason if flooder.state == CLOSED else None,
            "late": handler.late,
            "mismatches": handler.mismatches,
            "errors": engine.errors,
        }
    )
    quiet, flood = result.get("quiet_p99_ms"), result.get("flood_p99_ms")
    result["p99_flood_over_quiet"] = round(flood / quiet, 2) if quiet and flood else None
    result["ok"] = bool(result["quiet_samples"]) and not handler.mismatches
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return result
