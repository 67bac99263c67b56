#!/usr/bin/env python3
"""Draw the benchmark's PNG plots from a results.json (runs in ``bench/.venvs/plot``).

One bar chart per headline figure, every server side by side, medians with the
individual repetitions as dots::

    bench/.venvs/plot/bin/python bench/plot.py bench/results/<run>/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib
from report import backend_cases  # beside this file: python puts its folder on sys.path

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ORDER = [
    "djws",
    "djws-redis",
    "djws-postgresql",
    "raw",
    "bare",
    "ws",
    "daphne",
    "daphne-sync",
    "uvicorn",
    "uvicorn-sync",
]
LABELS = {
    "djws": "djws",
    "djws-redis": "djws on Redis\n(history)",
    "djws-postgresql": "djws on\nPostgreSQL",
    "ws": "Node.js\nws",
    "raw": "raw\ngevent-ws",
    "bare": "bare\ngevent",
    "daphne": "Channels\nDaphne",
    "daphne-sync": "Daphne\n(sync)",
    "uvicorn": "Channels\nuvicorn",
    "uvicorn-sync": "uvicorn\n(sync)",
}
COLORS = {
    "djws": "#0c6e3d",
    "djws-redis": "#4fa36f",
    "djws-postgresql": "#8cc9a1",
    "raw": "#7a7a7a",
    "bare": "#b5b5b5",
}

# (file, case, metric, title, y label, log scale, goal line)
CHARTS: list[tuple[str, str, str, str, str, bool, float | None]] = [
    (
        "echo.png",
        "echo",
        "msgs_per_s",
        "Echo, 100 connections, 64-byte text",
        "messages/s (higher is better)",
        False,
        None,
    ),
    ("echo_latency.png", "echo", "p99_ms", "Echo latency p99", "ms (lower is better)", True, None),
    (
        "handshake.png",
        "handshake",
        "handshakes_per_s",
        "Handshakes with a logged-in DB session (session + auth middleware)",
        "handshakes/s (higher is better)",
        False,
        None,
    ),
    (
        "handshake_anon.png",
        "handshake-anon",
        "handshakes_per_s",
        "Handshakes without a cookie (the same view and middleware)",
        "handshakes/s (higher is better)",
        False,
        None,
    ),
    (
        "idle_rss.png",
        "idle",
        "rss_per_conn_kib",
        "RSS per idle connection",
        "KiB per connection (lower is better)",
        False,
        20.0,
    ),
    (
        "idle_handshakes.png",
        "idle",
        "handshakes_per_s",
        "Handshakes/s while opening idle connections",
        "handshakes/s (higher is better)",
        False,
        None,
    ),
]


def bar_chart(
    summary: dict[str, Any],
    case: str,
    metric: str,
    title: str,
    ylabel: str,
    log: bool,
    goal: float | None,
    path: Path,
) -> bool:
    """Draw one chart; False when there is nothing to draw."""
    by_target = summary.get(case, {})
    targets = [t for t in ORDER if isinstance(by_target.get(t, {}).get(metric), int | float)]
    if not targets:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    values = [by_target[t][metric] for t in targets]
    bars = ax.bar(
        [LABELS.get(t, t) for t in targets],
        values,
        color=[COLORS.get(t, "#3b6ea8") for t in targets],
    )
    for i, target in enumerate(targets):
        runs = by_target[target].get(f"{metric}_all", [])
        ax.scatter([i] * len(runs), runs, color="black", s=10, zorder=3)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f"{value:,.0f}" if value >= 100 else f"{value:.1f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    if goal is not None:
        ax.axhline(goal, color="#c0392b", linestyle="--", linewidth=1, label=f"target {goal:g}")
        ax.legend(fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def broadcast_chart(summary: dict[str, Any], path: Path) -> bool:
    """p99 fan-out latency by subscriber count, every server (log scale); djws through
    a backend (``broadcast-<backend>-N``, as ``djws-<backend>``) beside the others."""
    cases = sorted(
        (c for c in summary if c.split("-")[0] == "broadcast" and c.split("-")[1].isdigit()),
        key=lambda c: int(c.split("-")[1]),
    )
    bars = {case: dict(summary[case]) for case in cases}
    for backend, subscribers, case in backend_cases(summary):
        row = bars.get(f"broadcast-{subscribers}")
        if row is not None and "djws" in summary[case]:
            row[f"djws-{backend}"] = summary[case]["djws"]
    summary = bars
    # A server with no equivalent (n/a in every case) gets no bar.
    targets = [
        t for t in ORDER if any(t in summary[c] and not summary[c][t].get("na") for c in cases)
    ]
    if not cases or not targets:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=110)
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        xs, ys = [], []
        for j, case in enumerate(cases):
            entry = summary[case].get(target, {})
            value = entry.get("p99_ms")
            x = j + (i - (len(targets) - 1) / 2) * width
            if isinstance(value, int | float):
                xs.append(x)
                ys.append(max(value, 0.1))
            lost, delivered = entry.get("lost"), entry.get("delivered")
            if isinstance(lost, int | float) and lost > 0:
                share = 100.0 * lost / max(lost + (delivered or 0), 1)
                ax.annotate(
                    f"lost\n{share:.0f}%",
                    (x, max(value or 1.0, 1.0)),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="#c0392b",
                )
            elif target in summary[case] and not entry.get("ok_runs"):
                ax.annotate(
                    "pending" if entry.get("pending") else "failed",
                    (x, 1.0),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    rotation=90,
                )
        ax.bar(
            xs,
            ys,
            width,
            label=LABELS.get(target, target).replace("\n", " "),
            color=COLORS.get(target),
        )
    limits = {"broadcast-1000": 50.0, "broadcast-5000": 150.0}
    for j, case in enumerate(cases):
        if case in limits:
            ax.hlines(
                limits[case], j - 0.45, j + 0.45, colors="#c0392b", linestyles="--", linewidth=1
            )
    ax.set_xticks(range(len(cases)), [f"{c.split('-')[1]} subscribers" for c in cases])
    ax.set_yscale("log")
    top = max((e.get("p99_ms") or 1.0 for c in cases for e in summary[c].values()), default=1.0)
    ax.set_ylim(1.0, max(top, 200.0) * 6)
    ax.set_ylabel("p99 fan-out latency, ms (log; lower is better)", fontsize=9)
    ax.set_title("Broadcast at 10 messages/s (dashed: djws target)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(targets), 4))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def resume_chart(summary: dict[str, Any], path: Path) -> bool:
    """djws's mass resume against reloading the last rows from the database."""
    entry = summary.get("resume", {}).get("djws", {})
    bars = [
        ("resume_all_s", "resume (djws-since,\nreplayed from the history)", COLORS["djws"]),
        ("reload_all_s", "reload the last rows\nfrom the database", "#3b6ea8"),
    ]
    bars = [b for b in bars if isinstance(entry.get(b[0]), int | float)]
    if not bars:
        return False
    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=110)
    drawn = ax.bar([label for _, label, _ in bars], [entry[key] for key, _, _ in bars])
    for i, (bar, (key, _label, color)) in enumerate(zip(drawn, bars, strict=True)):
        bar.set_color(color)
        runs = entry.get(f"{key}_all", [])
        ax.scatter([i] * len(runs), runs, color="black", s=10, zorder=3)
        ax.annotate(
            f"{entry[key]:.1f} s",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    clients, missed = entry.get("connections"), entry.get("messages_per_group")
    ax.set_title(
        f"{clients:,.0f} clients come back, each missed {missed or '?'} messages (djws)"
        if isinstance(clients, int | float)
        else "Mass resume (djws)",
        fontsize=10,
    )
    ax.set_ylabel("seconds until every client is caught up (lower is better)", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv: list[str]) -> int:
    """Draw every chart next to the results.json given."""
    source = Path(argv[0])
    summary = json.loads(source.read_text())["summary"]
    drawn = []
    opened = [e.get("opened") for e in summary.get("idle", {}).values()]
    held = max((n for n in opened if isinstance(n, int | float)), default=0)
    for name, case, metric, title, ylabel, log, goal in CHARTS:
        if case == "idle" and held:
            title = f"{title} ({held:,.0f} connections, one worker)"
        if bar_chart(summary, case, metric, title, ylabel, log, goal, source.parent / name):
            drawn.append(name)
    if broadcast_chart(summary, source.parent / "broadcast.png"):
        drawn.append("broadcast.png")
    if resume_chart(summary, source.parent / "resume.png"):
        drawn.append("resume.png")
    print("plots: " + ", ".join(drawn), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
