#!/usr/bin/env python3
"""Turn the benchmark's raw records into medians, ratios, target checks and a table.

``run.py`` calls :func:`write` after every server run (so an interrupted run still
leaves its results) and once more at the end with plots. It can also be run by
hand to regenerate ``results.md`` (and the plots) from a ``results.json``::

    python bench/report.py bench/results/<run>/results.json
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

# (key in the client's result, label, which way is better: "higher", "lower" or "")
METRICS: dict[str, list[tuple[str, str, str]]] = {
    "echo": [
        ("msgs_per_s", "messages/s", "higher"),
        ("msgs_per_cpu_s", "messages per server CPU-second", "higher"),
        ("p50_ms", "latency p50 (ms)", "lower"),
        ("p99_ms", "latency p99 (ms)", "lower"),
        ("cpu_server_percent", "server CPU %", ""),
        ("cpu_client_percent", "client CPU %", ""),
        ("cpu_other_percent", "other CPU % on the machine (noise)", ""),
    ],
    "handshake": [
        ("handshakes_per_s", "handshakes/s", "higher"),
        ("handshakes_per_cpu_s", "handshakes per server CPU-second", "higher"),
        ("p50_ms", "handshake p50 (ms)", "lower"),
        ("p99_ms", "handshake p99 (ms)", "lower"),
        ("auth_ok", "handshakes that named the user (or anonymous)", ""),
        ("failed", "failed handshakes", "lower"),
        ("cpu_server_percent", "server CPU %", ""),
        ("cpu_client_percent", "client CPU %", ""),
        ("cpu_other_percent", "other CPU % on the machine (noise)", ""),
    ],
    "idle": [
        ("opened", "connections opened", "higher"),
        ("handshakes_per_s", "handshakes/s while opening", "higher"),
        ("rss_per_conn_kib", "RSS per connection (KiB)", "lower"),
        ("rss_after_kib", "server RSS at the end (KiB)", "lower"),
        ("answered_at_end", "sockets answering at the end", "higher"),
        ("rest_cpu_server_percent", "server CPU % with all open and quiet", "lower"),
        ("cpu_server_percent", "server CPU % while opening", ""),
        ("cpu_client_percent", "client CPU % while opening", ""),
        ("cpu_other_percent", "other CPU % on the machine (noise)", ""),
    ],
    "broadcast": [
        ("p50_ms", "fan-out latency p50 (ms)", "lower"),
        ("p99_ms", "fan-out latency p99 (ms)", "lower"),
        ("max_ms", "fan-out latency max (ms)", "lower"),
        ("lost", "lost deliveries", "lower"),
        ("delivered", "deliveries", "higher"),
        ("subscribe_s", "seconds to subscribe all", "lower"),
        ("cpu_server_percent", "server CPU %", ""),
        ("cpu_client_percent", "client CPU %", ""),
        ("cpu_other_percent", "other CPU % on the machine (noise)", ""),
    ],
}

# One client floods /echo; 50 others send 2 messages/s each, and a new connection is
# opened every 0.2 s: first without the flood ("quiet"), then with it.
METRICS["flood"] = [
    ("quiet_p99_ms", "others' echo p99 without the flood (ms)", "lower"),
    ("flood_p50_ms", "others' echo p50 during the flood (ms)", "lower"),
    ("flood_p99_ms", "others' echo p99 during the flood (ms)", "lower"),
    ("p99_flood_over_quiet", "others' echo p99, flood / quiet", "lower"),
    ("quiet_handshake_p99_ms", "new handshake p99 without the flood (ms)", "lower"),
    ("flood_handshake_p99_ms", "new handshake p99 during the flood (ms)", "lower"),
    ("flood_handshake_max_ms", "new handshake max during the flood (ms)", "lower"),
    ("flood_echoed_per_s", "the flooder's messages echoed per second", "higher"),
    ("flood_cpu_server_percent", "server CPU % during the flood", ""),
]

# Not a server: Django's own work per request, in-process (bench/djangocost.py).
METRICS["django"] = [
    ("us_per_request", "microseconds per request (best round)", "lower"),
    ("requests_per_s", "requests/s at that cost", "higher"),
    ("us_per_request_median", "microseconds per request (median round)", "lower"),
]

METRICS["storm"] = [
    ("connections", "pages dropped at once", ""),
    ("all_back_s", "seconds until every page is back and caught up", "lower"),
    ("back_p50_s", "seconds until half are back", "lower"),
    ("back_p99_s", "seconds until 99 % are back", "lower"),
    ("caught_up_at_end", "pages holding every message at the end", "higher"),
    ("closed_s", "seconds until the old workers had closed every page", "lower"),
    ("failed_attempts", "failed reconnection attempts", "lower"),
    ("resets_before_101", "of which reset before the 101", "lower"),
    ("listen_queue", "listen queue (connections, as the kernel applies it)", ""),
    ("listen_overflows", "connections the full listen queue turned away (kernel)", "lower"),
    ("syn_cookies", "SYN cookies sent (kernel)", "lower"),
    ("not_recovered", "resumes refused (recovered: false)", "lower"),
    ("gaps", "gaps (messages missed)", "lower"),
    ("duplicates", "duplicates", "lower"),
    ("initial_open_s", "seconds to open them before the restart", "lower"),
    ("cpu_server_percent", "server CPU % during the storm (of one core)", ""),
    ("cpu_ms_per_page", "worker CPU per page back and caught up (ms)", "lower"),
    ("cpu_client_percent", "client CPU % during the storm", ""),
    ("cpu_other_percent", "other CPU % (Redis, publisher, other work)", ""),
]

# Two phases on the same djws server: the resume (djws-since, from the history), then
# the baseline (the same clients reload the last M rows from the database).
METRICS["resume"] = [
    ("connections", "clients that missed messages and come back at once", ""),
    ("messages_per_group", "messages each missed", ""),
    ("resume_all_s", "resume: seconds until every client is caught up", "lower"),
    ("resume_clients_per_s", "resume: clients caught up per second", "higher"),
    ("resume_p50_ms", "resume: per client, connect to caught up, p50 (ms)", "lower"),
    ("resume_p99_ms", "resume: per client, p99 (ms)", "lower"),
    ("replayed", "resume: messages replayed", ""),
    ("reload_all_s", "reload from the DB: seconds until every client has its rows", "lower"),
    ("reload_clients_per_s", "reload: clients per second", "higher"),
    ("reload_p50_ms", "reload: per client, connect to rows, p50 (ms)", "lower"),
    ("reload_p99_ms", "reload: per client, p99 (ms)", "lower"),
    ("reload_over_resume", "reload time / resume time", ""),
    ("open_clients_per_s", "for reference: clients/s joining with nothing to replay", ""),
    ("resume_cpu_server_percent", "server CPU % during the resume", ""),
    ("resume_cpu_client_percent", "client CPU % during the resume", ""),
    ("resume_cpu_other_percent", "other CPU % during the resume (noise)", ""),
    ("reload_cpu_server_percent", "server CPU % during the reload", ""),
    ("reload_cpu_other_percent", "other CPU % during the reload (noise)", ""),
]

# The figures of a progress line, when not the first four of METRICS.
# One djws server, one group of members of a few users: the same fragment published
# rendered once (text for all), then rendered per user (djws.live.per_user).
METRICS["render"] = [
    ("members", "members of the group", ""),
    ("users", "distinct users among them", ""),
    ("once_server_cpu_ms_per_publish", "rendered once: server CPU per publish (ms)", "lower"),
    ("per_user_server_cpu_ms_per_publish", "per user: server CPU per publish (ms)", "lower"),
    ("per_user_over_once", "server CPU per publish, per user / once", "lower"),
    ("once_p50_ms", "rendered once: delivery p50 (ms)", "lower"),
    ("once_p99_ms", "rendered once: delivery p99 (ms)", "lower"),
    ("per_user_p50_ms", "per user: delivery p50 (ms)", "lower"),
    ("per_user_p99_ms", "per user: delivery p99 (ms)", "lower"),
    ("once_lost", "rendered once: lost deliveries", "lower"),
    ("per_user_lost", "per user: lost deliveries", "lower"),
    ("wrong", "deliveries of another user's version", "lower"),
    ("duplicates", "duplicates", "lower"),
]

HEADLINE = {
    "resume": ["resume_all_s", "resume_p99_ms", "reload_all_s", "reload_over_resume"],
    "render": [
        "once_server_cpu_ms_per_publish",
        "per_user_server_cpu_ms_per_publish",
        "per_user_over_once",
        "per_user_p99_ms",
        "wrong",
    ],
}

# What a case measures, under its heading, when its name does not say.
CASE_TITLES = {
    "handshake": "Handshakes with a logged-in, database-backed session (session and auth "
    "middleware look up the session and the user; raw gevent-websocket has no Django).",
    "handshake-anon": "Handshakes without a cookie (the same view: the middleware runs, "
    "no session or user query).",
    "django": "Django's own work for the logged-in handshake request, in-process and no "
    "server (bench/djangocost.py): every middleware, the session and the user read from "
    "the database.",
    "flood": "One client writes small frames to /echo as fast as the server reads them; "
    "50 others each send 2 messages a second and a new connection opens every 0.2 s, "
    "first without the flood, then with it (no limit configured).",
    "django-anon": "Django's own work for the handshake request without a cookie, "
    "in-process and no server.",
}

TARGET_ORDER = ["djws", "raw", "bare", "ws", "daphne", "daphne-sync", "uvicorn", "uvicorn-sync"]
LABELS = {
    "djws": "djws",
    "raw": "raw gevent-websocket",
    "bare": "bare gevent sockets",
    "ws": "Node.js ws",
    "daphne": "Channels+Daphne",
    "daphne-sync": "Daphne (sync consumer)",
    "uvicorn": "Channels+uvicorn",
    "uvicorn-sync": "uvicorn (sync consumer)",
}
# djws divided by each of these, when the run has it: the peers, and ``bare`` (the least
# a gevent server does: the floor under any server whose Python code runs per message).
RATIO_BASES = ["raw", "bare", "ws", "daphne"]
TIMES = "\u00d7"  # the multiplication sign after a ratio


#: How the targets table names the backend of a ``broadcast-<backend>-<N>`` case.
BACKENDS = {"redis": "Redis", "postgresql": "PostgreSQL"}


def backend_cases(summary: dict[str, Any]) -> list[tuple[str, int, str]]:
    """``(backend, subscribers, case)`` of every ``broadcast-<backend>-<N>`` case (djws's
    broadcast through a backend with its history: run.py's ``--broadcast-url``)."""
    found = []
    for case in summary:
        parts = case.split("-")
        if len(parts) == 3 and parts[0] == "broadcast" and parts[2].isdigit():
            found.append((parts[1], int(parts[2]), case))
    return sorted(found)


def scenario_of(case: str) -> str:
    """``broadcast-1000`` -> ``broadcast``."""
    return case.split("-", 1)[0]


def one_line(case: dict[str, Any], result: dict[str, Any]) -> str:
    """A short progress summary of one client result."""
    if not result.get("ok"):
        return "FAILED: " + str(result.get("error", result.get("errors", "?")))[:200]
    result = per_cpu(result)
    keys = HEADLINE.get(case["scenario"]) or [key for key, _l, _b in METRICS[case["scenario"]]][:4]
    return ", ".join(f"{key}={result.get(key)}" for key in keys) + (
        f", errors={result['errors']}" if result.get("errors") else ""
    )


def per_cpu(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with its figures per server CPU-second (and the storm's CPU per page).

    Per CPU-second, a server's speed does not depend on how much of its core it got,
    so servers measured one after another compare even when the machine's speed
    drifts between them.
    """
    derived = dict(result)
    cpu = result.get("cpu_server_percent")
    if isinstance(cpu, int | float) and cpu > 0:
        for rate, per_cpu_key in (
            ("msgs_per_s", "msgs_per_cpu_s"),
            ("handshakes_per_s", "handshakes_per_cpu_s"),
        ):
            if isinstance(result.get(rate), int | float):
                derived[per_cpu_key] = round(result[rate] * 100.0 / cpu, 1)
    seconds, pages = result.get("cpu_server_s"), result.get("connections")
    if isinstance(seconds, int | float) and isinstance(pages, int) and pages:
        derived["cpu_ms_per_page"] = round(1000.0 * seconds / pages, 3)
    return derived


def summarize(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Median of every metric over the successful repetitions, per case and target."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault((record["case"], record["target"]), []).append(per_cpu(record["result"]))
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for (case, target), results in grouped.items():
        good = [r for r in results if r.get("ok")]
        entry: dict[str, Any] = {"runs": len(results), "ok_runs": len(good)}
        if not good:
            entry["error"] = results[-1].get("error", "failed")
            entry["pending"] = bool(results[-1].get("pending"))
            entry["na"] = bool(results[-1].get("na"))
        for key, _label, _better in METRICS[scenario_of(case)]:
            values = [r[key] for r in good if isinstance(r.get(key), int | float)]
            if values:
                entry[key] = round(statistics.median(values), 3)
                entry[f"{key}_all"] = values
        summary.setdefault(case, {})[target] = entry
    return summary


def ratios(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """djws / raw and djws / Daphne for every metric both have that has a direction."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for case, by_target in summary.items():
        mine = by_target.get("djws", {})
        for base in RATIO_BASES:
            theirs = by_target.get(base, {})
            for key, _label, better in METRICS[scenario_of(case)]:
                if not better:
                    continue
                a, b = mine.get(key), theirs.get(key)
                if isinstance(a, int | float) and isinstance(b, int | float) and b:
                    value = float(f"{a / b:.3g}")
                    out.setdefault(case, {}).setdefault(f"djws/{base}", {})[key] = value
    return out


def goals(summary: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The issue's targets for djws, each with the measured value and a verdict."""

    def get(case: str, target: str, key: str) -> float | None:
        value = summary.get(case, {}).get(target, {}).get(key)
        return value if isinstance(value, int | float) else None

    def each(case: str, target: str, key: str) -> list[float] | None:
        """Every repetition's value, in order; None unless every repetition succeeded."""
        entry = summary.get(case, {}).get(target, {})
        values = entry.get(f"{key}_all")
        if not isinstance(values, list) or entry.get("ok_runs") != entry.get("runs"):
            return None
        return values

    def paired(
        columns: list[list[float] | None], f: Callable[..., float | None]
    ) -> list[float] | None:
        """``f`` of each repetition's values, when every column has one per repetition."""
        if any(c is None for c in columns) or len({len(c) for c in columns if c}) != 1:
            return None
        rows = [f(*row) for row in zip(*columns, strict=True)]  # type: ignore[misc]
        return None if any(r is None for r in rows) else rows  # type: ignore[return-value]

    def ratio(case: str, key: str, base: str, base_case: str | None = None) -> float | None:
        a, b = get(case, "djws", key), get(base_case or case, base, key)
        return round(a / b, 2) if a is not None and b else None

    def ratio_each(
        case: str, key: str, base: str, base_case: str | None = None
    ) -> list[float] | None:
        """djws / ``base`` (in ``base_case``, if not ``case``) in each repetition: servers
        measured minutes apart, where the medians of a run may come from repetitions a
        quarter of an hour apart."""
        return paired(
            [each(case, "djws", key), each(base_case or case, base, key)],
            lambda a, b: a / b if b else None,
        )

    checks: list[dict[str, Any]] = []

    def add(
        name: str,
        value: float | None,
        ok: bool | None,
        goal: str,
        repetitions: list[float] | None = None,
    ) -> None:
        check = {
            "target": name,
            "goal": goal,
            "measured": value,
            "met": None if value is None else ok,
        }
        if repetitions is not None and len(repetitions) > 1:
            check["repetitions"] = [round(r, 2) for r in repetitions]
        checks.append(check)

    def add_ratio(
        name: str,
        case: str,
        key: str,
        base: str,
        goal: float,
        *,
        higher: bool,
        always: bool = True,
        base_case: str | None = None,
    ) -> None:
        """A ratio target: the median of the repetitions' ratios when every repetition
        has both servers, else the ratio of the medians; n/a without ``base`` if ``always``."""
        per_rep = ratio_each(case, key, base, base_case)
        value = (
            round(statistics.median(per_rep), 2) if per_rep else ratio(case, key, base, base_case)
        )
        if value is None and not always:
            return
        ok = value is not None and (value >= goal if higher else value <= goal)
        add(name, value, ok, f"{'>=' if higher else '<='} {goal}", per_rep)

    value = ratio("echo", "msgs_per_s", "raw")
    add(
        "echo messages/s, djws / raw gevent-websocket",
        value,
        value is not None and value >= 1.0,
        ">= 1.0x",
    )
    value = ratio("echo", "msgs_per_s", "daphne")
    add(
        "echo messages/s, djws / Channels+Daphne",
        value,
        value is not None and value >= 5.0,
        ">= 5x",
    )
    if "flood" in summary:
        value = get("flood", "djws", "p99_flood_over_quiet")
        add(
            "flood: others' echo p99 during / without the flood, djws",
            value,
            value is not None and value <= 3.0,
            "<= 3x",
        )
        value = get("flood", "djws", "flood_handshake_max_ms")
        add(
            "flood: slowest new handshake during the flood (ms), djws",
            value,
            value is not None and value < 100.0,
            "< 100 ms",
        )
    for case, limit, who in (("idle", 24.0, "logged in"), ("idle-anon", 20.0, "no cookie")):
        if case in summary:
            value = get(case, "djws", "rss_per_conn_kib")
            add(
                f"idle, {who}: RSS per connection (KiB), djws",
                value,
                value is not None and value <= limit,
                f"<= {limit:g} KiB",
            )
    requested = get("idle", "djws", "opened")
    answered = get("idle", "djws", "answered_at_end")
    add(
        "idle: every socket answers at the end, djws",
        answered,
        answered is not None and requested is not None and answered >= requested,
        "all opened",
    )
    value = ratio("handshake", "handshakes_per_s", "daphne")
    add(
        "handshakes/s with logged-in DB session, djws / Daphne",
        value,
        value is not None and value >= 3.0,
        ">= 3x",
    )
    for case, what, floor in (
        ("handshake", "handshakes/s with a logged-in DB session", 1000.0),
        ("handshake-anon", "handshakes/s without a cookie", 3000.0),
    ):
        if case in summary:
            value = get(case, "djws", "handshakes_per_s")
            label = f"{what}, djws, one worker"
            add(label, value, value is not None and value >= floor, f">= {floor:,.0f}")
        # What Django's own work leaves: the handshakes/s of a server whose work is
        # that of bare gevent sockets (or gevent-websocket's), plus Django's. Their
        # work is taken from the cookie-less run: neither reads the cookie.
        django_us = get(case.replace("handshake", "django"), "djws", "us_per_request")
        for server, kind in (("bare", "bare gevent sockets"), ("raw", "gevent-websocket")):
            rate = get("handshake-anon", server, "handshakes_per_s")
            cpu = get("handshake-anon", server, "cpu_server_percent") or 100.0
            if django_us is None or not rate:
                continue
            value = round(1e6 / (django_us + 1e6 * cpu / 100.0 / rate), 1)
            add(
                f"{what}: at most, with Django's own work and {kind}",
                value,
                value >= floor,
                f">= {floor:,.0f}",
            )
            mine = get(case, "djws", "handshakes_per_cpu_s")
            if server == "raw" and mine is not None:
                # The floor: Django's own work plus gevent-websocket's, per CPU-second;
                # djws's share of it in each repetition, where each has all three.
                per_rep = paired(
                    [
                        each(case, "djws", "handshakes_per_cpu_s"),
                        each(case.replace("handshake", "django"), "djws", "us_per_request"),
                        each("handshake-anon", "raw", "handshakes_per_s"),
                        each("handshake-anon", "raw", "cpu_server_percent"),
                    ],
                    lambda djws, us, raw, cpu: (
                        djws * (us + 1e6 * cpu / 100.0 / raw) / 1e6 if raw else None
                    ),
                )
                share = round(statistics.median(per_rep) if per_rep else mine / value, 2)
                add(
                    f"{what}: djws per CPU-second / that floor",
                    share,
                    share >= 0.85,
                    ">= 0.85",
                    per_rep,
                )
    add_ratio(
        "echo messages per server CPU-second, djws / Node.js ws",
        "echo",
        "msgs_per_cpu_s",
        "ws",
        0.8,
        higher=True,
    )
    add_ratio(
        "echo messages per server CPU-second, djws / bare gevent sockets (the floor)",
        "echo",
        "msgs_per_cpu_s",
        "bare",
        0.9,
        higher=True,
        always=False,
    )
    add_ratio(
        "broadcast-5000: p99, djws / raw gevent-websocket in-process",
        "broadcast-5000",
        "p99_ms",
        "raw",
        1.0,
        higher=False,
    )
    through_backends = backend_cases(summary)
    for backend, subscribers, case in through_backends:
        if subscribers == 5000:
            add_ratio(
                f"broadcast-5000: p99, djws on {BACKENDS.get(backend, backend)} with history"
                " / raw gevent-websocket in-process",
                case,
                "p99_ms",
                "raw",
                1.0,
                higher=False,
                always=False,
                base_case="broadcast-5000",
            )
    limits = {1000: 50.0, 5000: 150.0}
    cases = [(f"broadcast-{n}", limit) for n, limit in limits.items()]
    cases += [(case, limits[n]) for _, n, case in through_backends if n in limits]
    for case, limit in cases:
        if case not in summary:
            continue
        value = get(case, "djws", "p99_ms")
        add(
            f"{case}: p99 fan-out latency (ms), djws",
            value,
            value is not None and value < limit,
            f"< {limit:g} ms",
        )
        value = get(case, "djws", "lost")
        add(f"{case}: lost deliveries, djws", value, value == 0, "0")
    if "storm" in summary:
        value = get("storm", "djws", "all_back_s")
        pages = get("storm", "djws", "connections") or 0
        add(
            f"reconnect storm, {pages:,.0f} pages, 2 workers: every page back and caught up (s)",
            value,
            value is not None and value < 5.0,
            "< 5 s",
        )
        if pages < 10000:
            checks[-1]["met"] = None  # the goal is for 10,000 (--quick runs 2,000)
            checks[-1]["goal"] = "< 5 s at 10,000 pages"
        value = get("storm", "djws", "cpu_ms_per_page")
        add(
            "reconnect storm: worker CPU per page back and caught up (ms)",
            value,
            value is not None and value <= 0.8,
            "<= 0.8 ms",
        )
        for key, label in (("gaps", "messages missed"), ("duplicates", "messages twice")):
            value = get("storm", "djws", key)
            add(f"reconnect storm: {key} ({label}), djws", value, value == 0, "0")
    return checks


def fmt(value: Any) -> str:
    """A table cell."""
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if 0 < abs(value) < 0.01:
            return f"{value:.2g}"
        return f"{value:.2f}"
    return str(value)


def markdown(
    meta: dict[str, Any],
    summary: dict[str, Any],
    ratio_table: dict[str, Any],
    checks: list[dict[str, Any]],
) -> str:
    """The human-readable report."""
    lines = [
        "# djws benchmarks",
        "",
        f"Run {meta.get('started', '?')} → {meta.get('finished', 'running')}, "
        f"{meta['args']['repetitions']} repetition(s), values are medians. "
        f"Machine: {meta['machine']['cpus']} cores ({meta['machine']['cpu_model']}), "
        f"Python {meta['machine']['python']}; server pinned to core "
        f"{meta['pinning']['server_cpu']}, load client to core {meta['pinning']['client_cpu']}. "
        f"Repository commit `{meta['repository']['commit'][:12]}`"
        f"{' (with uncommitted changes)' if meta['repository']['dirty'] else ''}.",
        "",
        f"Command: `{meta['command']}`",
        "",
    ]
    noise = meta.get("machine_busy_before_percent")
    if isinstance(noise, int | float) and noise > 10:
        lines += [
            f"**Warning: the machine was {noise:.0f}% busy (of one core) before the run "
            "started: other processes compete with the servers; numbers are noisy.**",
            "",
        ]
    noisy = sorted(
        {
            c
            for c, by in summary.items()
            for e in by.values()
            for key in ("cpu_other_percent", "resume_cpu_other_percent", "reload_cpu_other_percent")
            if isinstance(e.get(key), int | float) and e[key] > 25
        }
    )
    if noisy:
        lines += [
            "**Warning: more than 25% of a core went to other work during "
            + ", ".join(noisy)
            + " (see 'other CPU %'): those numbers are noisy.**",
            "",
        ]
    if meta.get("pending"):
        lines += [
            "**Pending on djws's side:** "
            + "; ".join(f"{k}: {v}" for k, v in meta["pending"].items()),
            "",
        ]
    lines += ["## Targets (djws)", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for check in checks:
        met = {True: "yes", False: "**no**", None: "n/a"}[check["met"]]
        measured = fmt(check["measured"])
        if check.get("repetitions"):  # a median of the repetitions' own ratios
            measured += " (" + ", ".join(fmt(r) for r in check["repetitions"]) + ")"
        lines.append(f"| {check['target']} | {check['goal']} | {measured} | {met} |")
    lines.append("")
    for case, by_target in summary.items():
        # A server with no equivalent of the scenario gets a line, not a column.
        targets = [t for t in TARGET_ORDER if t in by_target and not by_target[t].get("na")]
        bases = [f"djws/{b}" for b in RATIO_BASES if f"djws/{b}" in ratio_table.get(case, {})]
        lines += [f"## {case}", ""]
        if case in CASE_TITLES:
            lines += [CASE_TITLES[case], ""]
        header = ["metric", *[LABELS.get(t, t) for t in targets], *bases]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for key, label, better in METRICS[scenario_of(case)]:
            arrow = {"higher": " ↑", "lower": " ↓"}.get(better, "")
            row = [label + arrow]
            for target in targets:
                row.append(fmt(by_target[target].get(key)))
            for base in bases:
                ratio = ratio_table[case][base].get(key)
                row.append(fmt(ratio) + (TIMES if ratio is not None else ""))
            lines.append("| " + " | ".join(row) + " |")
        failures = {t: e for t, e in by_target.items() if not e.get("ok_runs")}
        for target, entry in failures.items():
            kind = "n/a" if entry.get("na") else "PENDING" if entry.get("pending") else "FAILED"
            lines.append(f"\n{kind} on {LABELS.get(target, target)}: {entry.get('error')}")
        lines.append("")
    lines += [
        "↑ higher is better, ↓ lower is better; ratios are djws divided by the other server.",
        "",
        "## Servers",
        "",
    ]
    for _name, target in meta.get("targets", {}).items():
        lines.append(
            f"- **{target['label']}** (in `{target['cwd']}`, venv `bench/.venvs/"
            f"{target['venv']}`): `{target['command']}` (port chosen per run)"
        )
    lines += ["", "## Package versions", ""]
    for venv, packages in meta.get("packages", {}).items():
        lines.append(f"- `{venv}`: " + ", ".join(packages))
    lines.append("")
    return "\n".join(lines)


def write(out: Path, meta: dict[str, Any], records: list[dict[str, Any]], plots: bool) -> None:
    """Write results.json and results.md to ``out``; the plots too when asked."""
    summary = summarize(records)
    ratio_table = ratios(summary)
    checks = goals(summary)
    data = {
        "meta": meta,
        "summary": summary,
        "ratios": ratio_table,
        "targets": checks,
        "records": records,
    }
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    (out / "results.md").write_text(markdown(meta, summary, ratio_table, checks))
    if plots:
        python = BENCH / ".venvs" / "plot" / "bin" / "python"
        if python.exists():
            subprocess.run(
                [str(python), str(BENCH / "plot.py"), str(out / "results.json")],
                check=False,
                timeout=300,
            )


def main(argv: list[str]) -> int:
    """Regenerate the report of a results.json."""
    path = Path(argv[0])
    data = json.loads(path.read_text())
    write(path.parent, data["meta"], data["records"], plots=True)
    print((path.parent / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
