"""The render scenario: fragments rendered per user, against rendering once.

``users`` logged-in users (``manage.py benchsession --users N``: ``bench-0`` ...,
every other one with a permission its fragment shows) each open
``members / users`` connections to ``/render/sub``, which joins one group. A
control WebSocket (``/render/control``) then asks the server to publish, at
``rate`` a second, the same template (``templates/bench/item.html``) in two
ways, one phase each:

* ``once``: rendered once by the control view, without a request, and published
  as text -- the same bytes to every member, framed once;
* ``per-user``: published with :func:`djws.live.per_user`; the worker renders it
  with a member's request once per distinct user among its members (here:
  ``users`` renders a publish, not ``members``), and frames each version once.

Each member checks that it got its own user's version. Reported per phase: the
server's CPU milliseconds per publish (its process tree, from ``/proc``, over
the phase, until every delivery arrived), delivery latency p50/p99, and lost,
duplicate and wrong deliveries; and per-user CPU over once.
"""

from __future__ import annotations

import re
from typing import Any

from .. import log, perf
from ..engine import OPEN, Conn, Engine, Handler
from ..frames import OP_TEXT, mask_frame
from ..meters import latency_summary, tree_cpu_seconds

_SEQ = re.compile(rb'id="item-(\d+)"')


class RenderHandler(Handler):
    """Members: "ready", then one fragment per publish, for their user or for all."""

    def __init__(self) -> None:
        self.ready = 0
        self.received = 0
        self.latencies: list[float] = []
        self.stamps: dict[int, float] = {}
        self.duplicates = 0
        self.wrong = 0
        self.mode = "once"

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        conn.messages += 1
        if conn.messages == 1 and payload == b"ready":
            self.ready += 1
            conn.expect = -1
            return
        found = _SEQ.search(payload)
        if found is None:
            self.wrong += 1
            return
        seq = int(found.group(1))
        if seq <= conn.expect:
            self.duplicates += 1
            return
        conn.expect = seq
        own = conn.extra  # its user's version ends ", for bench-3<" or ", for bench-3 ("
        if (self.mode == "per-user") != (own[0] in payload or own[1] in payload):
            self.wrong += 1  # another user's version, or a personal one in "once"
        self.received += 1
        stamp = self.stamps.get(seq)
        if stamp is not None:
            self.latencies.append(now - stamp)


def _phase(
    engine: Engine,
    handler: RenderHandler,
    control: Conn,
    members: list[Conn],
    cfg: dict[str, Any],
    mode: str,
    first: int,
) -> dict[str, Any]:
    """Publish ``count`` fragments in ``mode``; measure until every member has them all."""
    handler.mode = mode
    handler.latencies = []
    count = int(cfg.get("rate", 10.0) * cfg.get("duration", 5.0))
    interval = 1.0 / cfg.get("rate", 10.0)
    received, pid = handler.received, cfg.get("server_pid")
    cpu_start, t0 = tree_cpu_seconds(pid) if pid else 0.0, perf()
    for index in range(count):
        seq = first + index
        due = t0 + index * interval
        engine.run(lambda due=due: perf() >= due, due + 1.0, tick=0.02)
        handler.stamps[seq] = perf()
        engine.send(control, mask_frame(OP_TEXT, f"{seq} {mode}".encode()))
    expected = received + count * len(members)
    engine.run(lambda: handler.received >= expected, perf() + cfg.get("drain", 20.0))
    wall = perf() - t0
    cpu = (tree_cpu_seconds(pid) - cpu_start) if pid else 0.0
    delivered = handler.received - received
    return {
        "published": count,
        "delivered": delivered,
        "lost": count * len(members) - delivered,
        "server_cpu_ms_per_publish": round(1000.0 * cpu / count, 3),
        "cpu_server_percent": round(100.0 * cpu / wall, 1),
        **latency_summary(handler.latencies),
    }


def scenario_render(cfg: dict[str, Any]) -> dict[str, Any]:
    """``members`` connections of ``len(cookies)`` users; fragments rendered once, then per user."""
    handler = RenderHandler()
    cookies: list[str] = cfg["cookies"]
    members_per_user = max(1, cfg.get("members", 1000) // len(cookies))
    engine = Engine(cfg["port"], handler)
    start = perf()
    members: list[Conn] = []
    for number, cookie in enumerate(cookies):
        engine.cookie = cookie
        opened = engine.open_many(
            cfg["path"],
            members_per_user,
            cfg.get("concurrency", 50),
            start + cfg.get("open_timeout", 300.0),
            lambda c: c.messages >= 1,
        )
        for conn in opened:
            conn.extra = (f", for bench-{number}<".encode(), f", for bench-{number} (".encode())
        members += opened
    engine.cookie = None
    open_s = perf() - start
    log(f"render: {len(members)} members of {len(cookies)} users in {open_s:.1f}s")
    control = engine.open(cfg.get("control_path", "/render/control"))
    engine.run(lambda: control is not None and control.state == OPEN, perf() + 10.0)
    wanted = members_per_user * len(cookies)
    if control is None or control.state != OPEN or len(members) < wanted:
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
        return {"ok": False, "error": "could not subscribe", "subscribed": len(members)}
    engine.run(lambda: False, perf() + 0.5)  # let the joins settle
    once = _phase(engine, handler, control, members, cfg, "once", 0)
    per_user = _phase(engine, handler, control, members, cfg, "per-user", once["published"])
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    result: dict[str, Any] = {
        "ok": True,
        "members": len(members),
        "users": len(cookies),
        "subscribe_s": round(open_s, 3),
        "duplicates": handler.duplicates,
        "wrong": handler.wrong,
        "errors": engine.errors,
    }
    for name, phase in (("once", once), ("per_user", per_user)):
        result.update({f"{name}_{key}": value for key, value in phase.items()})
    if once["server_cpu_ms_per_publish"]:
        ratio = per_user["server_cpu_ms_per_publish"] / once["server_cpu_ms_per_publish"]
        result["per_user_over_once"] = round(ratio, 2)
    return result
