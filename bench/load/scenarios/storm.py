"""The reconnect storm: N pages running djws.js's reconnection policy in G groups,
a publisher process, and a server restart (README: Scenarios, storm).
"""

from __future__ import annotations

import heapq
import json
import os
import random
import select
import signal
import subprocess
import urllib.parse
from collections.abc import Callable
from typing import Any

from .. import log, perf
from ..engine import Conn, Engine, Handler
from ..meters import CpuMeter, latency_summary, listen_drops, listen_queue, percentile

#: djws.js's reconnection options (``DEFAULTS`` in djws/static/djws/djws.js), in seconds.
BACKOFF = {"min_delay": 0.5, "max_delay": 30.0, "factor": 2.0, "jitter": 0.5, "stable_after": 5.0}


def backoff(attempt: int, rng: random.Random) -> float:
    """djws.js's ``backoff()``: ``min(maxDelay, minDelay * factor ** attempt)``, less a
    random part of up to ``jitter`` of it."""
    base = min(BACKOFF["max_delay"], BACKOFF["min_delay"] * BACKOFF["factor"] ** attempt)
    return base * (1 - BACKOFF["jitter"] * rng.random())


class Page:
    """One browser page running djws.js: its group, the last position it saw, and its
    reconnection state (``attempts``; ``opened_at``, djws.js's ``_openedAt``)."""

    __slots__ = (
        "attempts",
        "back_at",
        "conn",
        "epoch",
        "group",
        "index",
        "joined",
        "offset",
        "opened_at",
    )

    def __init__(self, index: int, group: str) -> None:
        self.index = index
        self.group = group
        self.conn: Conn | None = None
        self.epoch: str | None = None
        self.offset = 0
        self.attempts = 0
        self.opened_at: float | None = None
        self.joined = False
        self.back_at: float | None = None


class StormHandler(Handler):
    """Pages that follow djws.js: positions from the envelopes, resume with
    ``djws-since``, reconnect with djws.js's backoff after every close."""

    def __init__(self, pages: list[Page], path: str, policy: str, seed: int) -> None:
        self.pages = pages
        self.path = path
        self.policy = policy  # "djws.js" as shipped, or "spread-5s" (README)
        self.rng = random.Random(seed)
        self.engine: Engine | None = None
        self.schedule: list[tuple[float, int]] = []
        self.dropped_at = float("inf")
        self.stopping = False
        self.joined = 0
        self.back = 0
        self.last_close = 0.0
        self.closes_after_drop = 0
        self.attempts_after_drop = 0
        self.delivered = 0
        self.gaps = 0
        self.duplicates = 0
        self.not_recovered = 0
        self.resets = 0
        self.bad = 0
        #: After the restart: seconds from connect() to the joined envelope, per resume.
        self.resume_latencies: list[float] = []
        #: The first gaps and duplicates: (page, group, had, got, seconds since the restart).
        self.anomalies: list[tuple[str, int, str, str, str, float]] = []

    def anomaly(self, kind: str, page: Page, got: str, now: float) -> None:
        """Note a gap or duplicate (the first 20 are kept for the report)."""
        if len(self.anomalies) < 20:
            since = round(now - self.dropped_at, 3) if now >= self.dropped_at else -1.0
            had = f"{page.epoch}:{page.offset}" + ("" if page.joined else " (before joined)")
            self.anomalies.append((kind, page.index, page.group, had, got, since))

    def connect(self, page: Page) -> None:
        """Open the page's WebSocket, resuming from its position if it has one."""
        assert self.engine is not None
        query = "djws=1"
        if page.epoch is not None:
            since = json.dumps({page.group: f"{page.epoch}:{page.offset}"})
            query += "&djws-since=" + urllib.parse.quote(since, safe="")
        path = f"{self.path}{page.group}?{query}"
        page.joined = False
        if self.dropped_at <= perf():
            self.attempts_after_drop += 1
        conn = self.engine.open(path)
        if conn is None:
            self.retry(page, perf())
            return
        conn.extra = page
        page.conn = conn

    def retry(self, page: Page, now: float) -> None:
        """djws.js's ``_handleClose``: back off, then connect again."""
        page.conn = None
        if self.stopping:
            return
        if page.opened_at is not None and now - page.opened_at >= BACKOFF["stable_after"]:
            page.attempts = 0
        # Measured from this connection's open only, as djws.js does: an attempt that
        # fails without opening keeps backing off.
        page.opened_at = None
        delay = backoff(page.attempts, self.rng)
        if self.policy == "spread-5s" and page.attempts == 0:
            # An experiment, not djws.js: the first reconnection anywhere in 5 s.
            delay = 5.0 * self.rng.random()
        page.attempts += 1
        heapq.heappush(self.schedule, (now + delay, page.index))

    def on_open(self, conn: Conn, now: float) -> None:
        conn.extra.opened_at = now

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        page: Page = conn.extra
        try:
            message = json.loads(payload)
            kind = message["djws"]
            epoch, _, offset_text = message["position"].rpartition(":")
            offset = int(offset_text)
        except (ValueError, KeyError, TypeError):
            self.bad += 1
            return
        if kind == "message":
            if epoch == page.epoch and offset <= page.offset:
                self.duplicates += 1
                self.anomaly("duplicate", page, message["position"], now)
                return
            if epoch != page.epoch or offset != page.offset + 1:
                self.gaps += 1
                self.anomaly("gap", page, message["position"], now)
            page.epoch, page.offset = epoch, offset
            self.delivered += 1
        elif kind == "joined":
            recovered = message.get("recovered")
            if recovered is False:
                self.not_recovered += 1
            elif recovered is True and (epoch, offset) != (page.epoch, page.offset):
                self.gaps += 1  # the replay did not bring the page to the position
                self.anomaly("joined elsewhere", page, message["position"], now)
            page.epoch, page.offset = epoch, offset
            page.joined = True
            self.joined += 1
            if now >= self.dropped_at and page.back_at is None:
                page.back_at = now
                self.back += 1
                self.resume_latencies.append(now - conn.started)
        elif kind == "reset":
            self.resets += 1
            page.epoch, page.offset = epoch, offset

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        page: Page = conn.extra
        if page is None or page.conn is not conn:
            return
        if now >= self.dropped_at:
            self.closes_after_drop += 1
            if page.joined:
                self.last_close = max(self.last_close, now)
        page.joined = False
        self.retry(page, now)

    def due(self, now: float) -> None:
        """Connect every page whose backoff timer expired."""
        schedule, pages = self.schedule, self.pages
        while schedule and schedule[0][0] <= now:
            _, index = heapq.heappop(schedule)
            if pages[index].conn is None:
                self.connect(pages[index])


class Publisher:
    """The publishing process (``manage.py benchpublish``): primes every group with a
    message, publishes round-robin until its stdin closes, then prints a summary."""

    def __init__(self, spec: dict[str, Any]) -> None:
        env = {**os.environ, **spec.get("env", {})}
        self.process = subprocess.Popen(
            spec["argv"],
            cwd=spec.get("cwd"),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def read_line(self, deadline: float) -> str | None:
        """The next line of its output, or None at ``deadline`` or its exit."""
        assert self.process.stdout is not None
        while perf() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if not line:
                    return None
                self.lines.append(line)
                return line.strip()
        return None

    def stop(self) -> None:
        """Close its stdin: it finishes its current publish and prints its summary."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def kill(self) -> None:
        """Make sure it is gone."""
        self.stop()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def scenario_storm(cfg: dict[str, Any]) -> dict[str, Any]:
    """N pages (djws.js's policy) in G groups, a publisher, and a server restart.

    Phases: prime every group (so each page has a position), open the N pages
    (``?djws=1``), let messages flow, restart the server (SIGHUP: gunicorn
    replaces its workers, which close every WebSocket with 1001), then every page
    reconnects with djws.js's backoff and ``djws-since``. A page is **back** when
    its ``joined`` envelope says ``recovered: true``: the history replayed what it
    missed. Reported: the time from the restart to the last page back, with the
    distribution, and at the end whether every page holds every message of its
    group, exactly once and in order.
    """
    n, groups = cfg["connections"], cfg.get("groups", 100)
    pages = [Page(i, f"g{i % groups}") for i in range(n)]
    handler = StormHandler(pages, cfg["path"], cfg.get("policy", "djws.js"), cfg.get("seed", 1))
    engine = Engine(cfg["port"], handler)
    engine.handshake_timeout = cfg.get("handshake_timeout", 30.0)
    handler.engine = engine
    server_pid = cfg.get("server_pid")
    publisher = Publisher(cfg["publisher"])
    result: dict[str, Any] = {"ok": False, "connections": n, "groups": groups}
    try:
        primed = publisher.read_line(perf() + 60.0)
        if primed != "primed":
            result["error"] = f"the publisher did not prime the groups: {primed!r}"
            return result

        def loop(until: Callable[[], bool], deadline: float) -> bool:
            for _ in range(100_000_000):
                if until():
                    return True
                now = perf()
                if now >= deadline:
                    break
                handler.due(now)
                wait = min(0.02, deadline - now)
                if handler.schedule:
                    wait = min(wait, max(0.0, handler.schedule[0][0] - now))
                engine.poll(wait)
            return until()

        # 1. Open every page, ``concurrency`` handshakes in flight.
        start = perf()
        concurrency = cfg.get("concurrency", 100)
        opened = 0
        open_deadline = start + cfg.get("open_timeout", 300.0)
        for _ in range(n * 10 + 1000):
            while opened < n and opened - handler.joined < concurrency:
                handler.connect(pages[opened])
                opened += 1
            if handler.joined >= n or perf() >= open_deadline:
                break
            loop(lambda: False, perf() + 0.02)
        open_s = perf() - start
        result.update(initial_open_s=round(open_s, 3), initial_joined=handler.joined)
        log(f"storm: {handler.joined}/{n} pages joined in {open_s:.1f}s, errors={engine.errors}")
        if handler.joined < n:
            result["error"] = f"only {handler.joined} of {n} pages joined"
            result["errors"] = engine.errors
            return result
        loop(lambda: False, perf() + cfg.get("steady", 2.0))  # messages flowing
        errors_before = dict(engine.errors)

        # 2. The restart.
        meter = CpuMeter(server_pid)
        drops_before = listen_drops()
        handler.dropped_at = perf()
        os.kill(server_pid, signal.SIGHUP)
        storm_deadline = handler.dropped_at + cfg.get("storm_timeout", 120.0)
        loop(lambda: handler.back >= n, storm_deadline)
        back_times = sorted(p.back_at - handler.dropped_at for p in pages if p.back_at)
        cpu = meter.result()
        drops = {k: v - drops_before.get(k, 0) for k, v in listen_drops().items()}
        log(f"storm: {handler.back}/{n} back in {(back_times or [0])[-1]:.2f}s")

        # 3. Keep publishing a little, stop, and check every page has everything.
        loop(lambda: False, perf() + cfg.get("after", 1.0))
        publisher.stop()
        summary_line = publisher.read_line(perf() + 30.0)
        summary = json.loads(summary_line) if summary_line else {}
        last = {g: tuple(p.rsplit(":", 1)) for g, p in summary.get("last", {}).items()}

        def caught_up() -> bool:
            return all(
                last.get(p.group) == (p.epoch, str(p.offset)) for p in pages if p.conn is not None
            )

        loop(caught_up, perf() + cfg.get("drain", 20.0))
        at_end = sum(1 for p in pages if last.get(p.group) == (p.epoch, str(p.offset)))
        storm_errors = {
            k: v - errors_before.get(k, 0)
            for k, v in engine.errors.items()
            if v - errors_before.get(k, 0)
        }
        attempts = handler.attempts_after_drop
        result.update(
            # Measured: every page came back. Gaps and duplicates are targets, not errors.
            ok=handler.back == n,
            restart="SIGHUP",
            policy=handler.policy,
            all_back_s=round(back_times[-1], 3) if len(back_times) == n else None,
            back=handler.back,
            back_p50_s=round(percentile(back_times, 0.5) or 0, 3),
            back_p90_s=round(percentile(back_times, 0.9) or 0, 3),
            back_p99_s=round(percentile(back_times, 0.99) or 0, 3),
            # Pages back in each second after the restart: [0-1 s, 1-2 s, ...].
            back_per_second=[
                sum(1 for t in back_times if second <= t < second + 1)
                for second in range(int(back_times[-1]) + 1 if back_times else 0)
            ],
            closed_s=round(handler.last_close - handler.dropped_at, 3),
            # From the successful attempt's connect() to its joined envelope: the
            # server's own time per resume (queueing included), not the backoff.
            resume=latency_summary(handler.resume_latencies),
            reconnect_attempts=attempts,
            failed_attempts=max(0, attempts - n),
            storm_errors=storm_errors,
            # Connections the kernel dropped because the listen queue was full (these
            # counters are the whole machine's; the storm dominates them).
            listen_queue_drops=drops,
            listen_queue=listen_queue(cfg["port"]),
            listen_overflows=drops.get("ListenOverflows"),
            syn_cookies=drops.get("SyncookiesSent"),
            # What a full listen queue leads to once it lasts: Linux prunes the oldest
            # half-open connections, and the request their client sent meanwhile is
            # answered with a reset.
            resets_before_101=storm_errors.get("handshake recv: Connection reset by peer", 0),
            not_recovered=handler.not_recovered,
            resets=handler.resets,
            gaps=handler.gaps,
            duplicates=handler.duplicates,
            anomalies=handler.anomalies,
            bad_messages=handler.bad,
            delivered=handler.delivered,
            published=summary.get("published"),
            publish_failed=summary.get("failed"),
            caught_up_at_end=at_end,
            errors=engine.errors,
            **cpu,
        )
        return result
    finally:
        handler.stopping = True
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
        publisher.kill()
