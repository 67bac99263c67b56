"""The mass resume: N clients miss M messages each, then all come back at once
(README: Scenarios, resume). Its clients and their checks are in
:mod:`load.scenarios.resume_clients`.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from collections.abc import Callable
from typing import Any

from .. import log, perf
from ..engine import OPEN, Engine
from ..meters import CpuMeter, latency_summary
from .resume_clients import Client, ResumeHandler


def run_fill(spec: dict[str, Any], options: list[str], timeout: float) -> dict[str, Any]:
    """Run ``manage.py benchfill`` with ``options``; return its JSON summary."""
    proc = subprocess.run(
        [*spec["argv"], *options],
        cwd=spec.get("cwd"),
        env={**os.environ, **spec.get("env", {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise RuntimeError(f"benchfill exited with {proc.returncode}: {proc.stderr[-800:]}")
    return json.loads(lines[-1])


def scenario_resume(cfg: dict[str, Any]) -> dict[str, Any]:
    """N clients miss M messages each, then all come back at once: djws's resume
    (``djws-since``, replayed from the history) against reloading the last M rows
    from the database.

    Phases, on one server that never restarts (``local://`` keeps the history in
    the worker):

    1. ``benchfill --clear --messages 1``: one message per group, so every group
       has a position; then the N clients connect to ``/storm/<group>?djws=1``
       (``concurrency`` of them unfinished at a time) and note the position of
       their ``joined`` envelope;
    2. every client closes cleanly (close frame, the server's reply);
    3. ``benchfill --messages M``: M messages per group, published and stored as
       rows, while nobody is connected;
    4. **resume**: all N reconnect with ``djws-since={group: position}``, at most
       ``concurrency`` unfinished at a time; a client is caught up when it got its
       M messages exactly once and in order, then ``joined`` with ``recovered:
       true``. Then all close;
    5. **reload** (the baseline): all N connect to ``/reload/<group>?rows=M``,
       which joins the group, reads the group's last M rows from the database and
       sends them as one JSON message; a client is caught up when those are
       exactly the M messages. Then all close.

    For 4 and 5: the time from the first connect() to the last client caught up,
    clients/s, and each client's time from its connect() to its last message.
    """
    n, groups, m = cfg["connections"], cfg.get("groups", 50), cfg.get("messages", 100)
    size = cfg.get("size", 64)
    concurrency = cfg.get("concurrency", 200)
    clients = [Client(i, f"g{i % groups}") for i in range(n)]
    handler = ResumeHandler(m, size)
    engine = Engine(cfg["port"], handler)
    engine.handshake_timeout = cfg.get("handshake_timeout", 30.0)
    server_pid = cfg.get("server_pid")
    fill = cfg["fill"]
    fill_timeout = cfg.get("fill_timeout", 120.0)
    fill_options = ["--groups", str(groups), "--size", str(size)]
    result: dict[str, Any] = {
        "ok": False,
        "connections": n,
        "groups": groups,
        "messages_per_group": m,
        "concurrency": concurrency,
    }

    def wave(path_of: Callable[[Client], str], deadline: float) -> float:
        """Connect every client (``concurrency`` unfinished at a time) until each is
        finished or ``deadline``; returns when the first connect() was made."""
        handler.finished = 0
        for client in clients:
            client.reset()
        opened = 0
        start = perf()
        for _ in range(100_000_000):  # one poll each: bounded by the deadline in practice
            while opened < n and opened - handler.finished < concurrency:
                client = clients[opened]
                opened += 1
                conn = engine.open(path_of(client))
                if conn is None:
                    client.failed = True
                    handler.finished += 1
                    handler.count(f"{handler.mode}: could not connect", client)
                    continue
                conn.extra = client
                client.conn = conn
            now = perf()
            if handler.finished >= n or now >= deadline:
                break
            engine.poll(min(0.02, deadline - now))
        return start

    def close_all() -> int:
        """Close every connection cleanly; return how many were still open."""
        handler.mode = "closing"
        still_open = sum(1 for c in engine.conns.values() if c.state == OPEN)
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=True)
        engine.run(lambda: not engine.conns, perf() + 30.0)
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
        return still_open

    def measured(prefix: str, start: float, meter: CpuMeter) -> dict[str, Any]:
        cpu = meter.result()
        done = [c for c in clients if c.done_at is not None and not c.failed]
        last = max((c.done_at for c in done), default=start)
        elapsed = max(last - start, 1e-9)
        times = [c.done_at - c.conn.started for c in done if c.conn is not None]
        out = {
            f"{prefix}_caught_up": len(done),
            f"{prefix}_failed": sum(1 for c in clients if c.failed),
            # Still waiting for their last message at the phase's deadline.
            f"{prefix}_unfinished": sum(1 for c in clients if c.done_at is None and not c.failed),
            f"{prefix}_all_s": round(elapsed, 3) if len(done) == n else None,
            f"{prefix}_clients_per_s": round(len(done) / elapsed, 1) if len(done) == n else None,
            **{f"{prefix}_{k}": v for k, v in latency_summary(times).items()},
            **{f"{prefix}_{k}": v for k, v in cpu.items()},
        }
        log(
            f"resume: {prefix}: {len(done)}/{n} caught up in {elapsed:.2f}s, "
            f"p50 {out[f'{prefix}_p50_ms']} ms, p99 {out[f'{prefix}_p99_ms']} ms, {cpu}"
        )
        return out

    try:
        # 1. A position for every group, every client joined and told where it stands.
        primed = run_fill(fill, [*fill_options, "--clear", "--messages", "1"], fill_timeout)
        if primed.get("failed") or len(primed.get("last", {})) != groups:
            result["error"] = f"could not prime the groups: {primed}"
            return result
        handler.mode = "join"
        start = wave(
            lambda c: f"{cfg['path']}{c.group}?djws=1", perf() + cfg.get("open_timeout", 120.0)
        )
        joined = sum(1 for c in clients if c.done_at is not None and not c.failed)
        result["open_s"] = round(perf() - start, 3)
        # The floor: handshake and join with nothing to replay (server CPU not measured).
        result["open_clients_per_s"] = round(joined / max(result["open_s"], 1e-9), 1)
        log(f"resume: {joined}/{n} joined in {result['open_s']}s, errors={engine.errors}")
        wrong = sum(1 for c in clients if f"{c.epoch}:{c.offset}" != primed["last"][c.group])
        if joined < n or wrong:
            result.update(
                error=f"{joined} of {n} joined, {wrong} at another position than the primed one",
                errors=engine.errors,
                anomalies=handler.anomalies,
            )
            return result

        # 2. Every client leaves; 3. the groups move on by M messages meanwhile.
        close_all()
        filled = run_fill(fill, [*fill_options, "--messages", str(m)], fill_timeout)
        result.update(
            published=filled.get("published"),
            fill_s=filled.get("seconds"),
            rows_in_table=filled.get("rows"),
        )
        log(f"resume: benchfill published {filled.get('published')} in {filled.get('seconds')}s")

        def next_position(position: str) -> str:
            epoch, _, offset = position.rpartition(":")
            return f"{epoch}:{int(offset) + 1}"

        # Nothing else published: each group's first new message follows the primed one.
        starts_ok = all(
            filled["first"].get(g) == next_position(p) for g, p in primed["last"].items()
        )
        if filled.get("failed") or not filled.get("consecutive") or not starts_ok:
            result["error"] = f"the fill did not continue every group by {m}: {filled}"
            return result
        handler.expect(filled["first"], filled["last"])

        # 4. Everyone resumes at once.
        handler.mode = "resume"
        errors_before = dict(engine.errors)
        meter = CpuMeter(server_pid)
        phase_timeout = cfg.get("phase_timeout", 120.0)

        def since_path(c: Client) -> str:
            since = urllib.parse.quote(json.dumps({c.group: f"{c.epoch}:{c.offset}"}), safe="")
            return f"{cfg['path']}{c.group}?djws=1&djws-since={since}"

        start = wave(since_path, perf() + phase_timeout)
        result.update(measured("resume", start, meter))
        result["replayed"] = sum(c.k for c in clients if c.done_at is not None)
        close_all()

        # 5. The baseline: everyone reloads the last M rows from the database.
        handler.mode = "reload"
        meter = CpuMeter(server_pid)
        start = wave(lambda c: f"{cfg['reload_path']}{c.group}?rows={m}", perf() + phase_timeout)
        result.update(measured("reload", start, meter))
        result["reloaded_rows"] = sum(c.k for c in clients if c.done_at is not None)
        close_all()

        counts = {k: v for k, v in handler.counts.items() if k != "parsed"}
        resume_s, reload_s = result.get("resume_all_s"), result.get("reload_all_s")
        result.update(
            # How many times longer the database reload took than the resume.
            reload_over_resume=round(reload_s / resume_s, 2) if resume_s and reload_s else None,
            anomaly_counts=counts,
            anomalies=handler.anomalies,
            # Replayed messages that were not byte for byte the envelope expected
            # (another JSON spelling is fine; they were then checked field by field).
            parsed_envelopes=handler.counts.get("parsed", 0),
            errors={
                k: v - errors_before.get(k, 0)
                for k, v in engine.errors.items()
                if v - errors_before.get(k, 0)
            },
        )
        problems = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        if problems or result.get("resume_all_s") is None or result.get("reload_all_s") is None:
            result["error"] = (
                f"resume caught up {result['resume_caught_up']}/{n}, reload "
                f"{result['reload_caught_up']}/{n}; {problems or 'no anomaly'}"
            )
        else:
            result["ok"] = True
        return result
    finally:
        handler.mode = "closing"
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
