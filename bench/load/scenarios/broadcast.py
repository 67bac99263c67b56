"""The broadcast scenario: fan-out latency and lost deliveries.

Subscribers connect to ``/sub`` and wait for ``ready``; a control WebSocket
(``/control``) then sends ``rate`` messages a second, each of which the server
publishes to the group every subscriber joined.
"""

from __future__ import annotations

from typing import Any

from .. import log, perf
from ..engine import OPEN, Conn, Engine, Handler
from ..frames import OP_TEXT, mask_frame
from ..meters import CpuMeter, latency_summary


class BroadcastHandler(Handler):
    """Subscribers: the first message is "ready", then the published messages.

    Every published payload is unique and remembered with its sequence number and
    send time (``self.published``), so a delivery costs one dictionary look-up.
    """

    def __init__(self) -> None:
        self.ready = 0
        self.received = 0
        self.latencies: list[float] = []
        self.published: dict[bytes, tuple[int, float]] = {}
        self.duplicates = 0
        self.out_of_order = 0
        self.bad = 0

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        info = self.published.get(payload)
        if info is None:
            conn.messages += 1
            if conn.messages == 1 and payload == b"ready":
                self.ready += 1
                conn.expect = -1
            else:
                self.bad += 1
            return
        seq, stamp = info
        if seq <= conn.expect:
            if seq == conn.expect:
                self.duplicates += 1
                return
            self.out_of_order += 1
        else:
            conn.expect = seq
        self.received += 1
        self.latencies.append(now - stamp)


def scenario_broadcast(cfg: dict[str, Any]) -> dict[str, Any]:
    """S subscribers, a publisher at R messages/s: fan-out latency and lost deliveries.

    The publisher is a control WebSocket (``/control``) on the same server: each
    message sent on it is published by the server to the group every subscriber
    joined. Each payload is unique (it starts with its sequence number); the client
    notes the monotonic time just before sending it, and a delivery's latency is
    the time of the ``epoll`` wake-up that found it minus that stamp.
    """
    handler = BroadcastHandler()
    engine = Engine(cfg["port"], handler)
    n = cfg["subscribers"]
    start = perf()
    subs = engine.open_many(
        cfg["path"],
        n,
        cfg.get("concurrency", 50),
        start + cfg.get("open_timeout", 300.0),
        lambda c: c.messages >= 1,
    )
    open_s = perf() - start
    log(f"broadcast: {len(subs)}/{n} subscribed in {open_s:.1f}s, errors={engine.errors}")
    control_ref: list[Conn] = []
    control = engine.open(cfg.get("control_path", "/control"))
    if control is not None:
        control_ref.append(control)
    engine.run(lambda: bool(control_ref) and control_ref[0].state == OPEN, perf() + 10.0)
    if not subs or control is None or control.state != OPEN:
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
        return {
            "ok": False,
            "error": "could not subscribe",
            "subscribed": len(subs),
            "errors": engine.errors,
        }
    engine.run(lambda: False, perf() + 0.5)  # let the joins settle
    rate, duration = cfg.get("rate", 10.0), cfg.get("duration", 10.0)
    total = int(rate * duration)
    interval = 1.0 / rate
    meter = CpuMeter(cfg.get("server_pid"))
    t0 = perf()
    for seq in range(total):
        due = t0 + seq * interval
        engine.run(lambda due=due: perf() >= due, due + 1.0, tick=0.02)
        text = f"{seq} ".encode()
        text += b"x" * max(0, cfg.get("size", 64) - len(text))
        frame = mask_frame(OP_TEXT, text)
        stamp = perf()
        handler.published[text] = (seq, stamp)
        engine.send(control, frame)
    expected = total * len(subs)
    last_publish = perf()
    engine.run(lambda: handler.received >= expected, last_publish + interval + 0.5)
    cpu = meter.result()
    engine.run(lambda: handler.received >= expected, last_publish + cfg.get("drain", 30.0))
    drain_s = perf() - last_publish
    still_open = sum(1 for c in subs if c.state == OPEN)
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return {
        "ok": True,
        "subscribers": len(subs),
        "subscribe_s": round(open_s, 3),
        "published": total,
        "rate_per_s": rate,
        "expected_deliveries": expected,
        "delivered": handler.received,
        "lost": expected - handler.received,
        "duplicates": handler.duplicates,
        "out_of_order": handler.out_of_order,
        "bad_payloads": handler.bad,
        "drain_s": round(drain_s, 3),
        "subscribers_open_at_end": still_open,
        **latency_summary(handler.latencies),
        "errors": engine.errors,
        **cpu,
    }
