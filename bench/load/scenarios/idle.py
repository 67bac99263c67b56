"""The idle scenario: the capacity of one worker.

Opens ``connections`` logged-in connections to ``/whoami`` (``concurrency`` (50)
handshakes in flight) and keeps them open: handshakes/s while opening them, the
growth of the server's process tree's RSS per connection, the server's CPU while
they are all open and quiet (the ``settle`` seconds before the RSS is read), and at
the end every connection sends one message and must get it back.
"""

from __future__ import annotations

from typing import Any

from .. import log, perf
from ..engine import OPEN, Engine
from ..frames import OP_TEXT, mask_frame
from ..meters import CpuMeter, tree_rss_kib
from .whoami import WhoamiHandler


def scenario_idle(cfg: dict[str, Any]) -> dict[str, Any]:
    """Open N logged-in connections to one worker, hold them, measure RSS, ping all."""
    handler = WhoamiHandler(cfg.get("expect_user"), greeting=cfg.get("greeting", True))
    engine = Engine(cfg["port"], handler, cookie=cfg.get("cookie"))
    engine.handshake_timeout = cfg.get("handshake_timeout", 60.0)
    pid = cfg.get("server_pid")
    n = cfg["connections"]
    settle = cfg.get("settle", 2.0)
    before = tree_rss_kib(pid) if pid else None
    meter = CpuMeter(pid)
    start = perf()
    conns = engine.open_many(
        cfg["path"],
        n,
        cfg.get("concurrency", 50),
        start + cfg.get("open_timeout", 300.0),
        lambda c: c.messages >= 1,
    )
    last = max((c.sent_at for c in conns), default=perf())
    elapsed = max(last - start, 1e-9)
    cpu = meter.result()
    log(f"idle: {len(conns)}/{n} open in {elapsed:.1f}s, errors={engine.errors}")
    at_rest = CpuMeter(pid)  # every connection open, none sending: keepalive alone
    engine.run(lambda: False, perf() + settle)
    rest = at_rest.result()
    after = tree_rss_kib(pid) if pid else None
    alive_before_round = sum(1 for c in conns if c.state == OPEN)
    # The end: every socket must still answer a message.
    for conn in conns:
        if conn.state == OPEN:
            payload = f"still-there-{conn.index}".encode()
            conn.expect = payload
            engine.send(conn, mask_frame(OP_TEXT, payload))
    answer_deadline = perf() + cfg.get("answer_timeout", 30.0)
    engine.run(lambda: handler.answered >= alive_before_round, answer_deadline)
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    result: dict[str, Any] = {
        "ok": bool(conns),
        "requested": n,
        "opened": len(conns),
        "open_s": round(elapsed, 3),
        "handshakes_per_s": round(len(conns) / elapsed, 1),
        "auth_ok": handler.auth_ok,
        "auth_bad": handler.auth_bad,
        "alive_at_end": alive_before_round,
        "answered_at_end": handler.answered,
        "server_pings_answered": engine.pings,
        "errors": engine.errors,
        **cpu,
        "rest_cpu_server_percent": rest["cpu_server_percent"],
    }
    if before and after:
        grown = after["total_kib"] - before["total_kib"]
        result.update(
            rss_before_kib=before["total_kib"],
            rss_after_kib=after["total_kib"],
            rss_per_process_kib={str(k): v for k, v in after["per_process_kib"].items()},
            rss_per_conn_kib=round(grown / max(len(conns), 1), 2),
        )
    return result
