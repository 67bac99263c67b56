"""What the load client measures besides its own counts: the server's processes and
the machine, read from ``/proc``, this client's own CPU time, and the percentiles and
latency summaries every scenario reports.

:class:`CpuMeter` gives this client's CPU use (``cpu_client_percent``) and the
server's (``cpu_server_percent``, its whole process tree, from ``/proc``) over a
measured window, so a reader can check that the server, not the client, was
saturated; ``cpu_other_percent`` shows a noisy machine.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
from typing import Any

from . import perf

# -- the server's processes, read from /proc -------------------------------------------


def process_tree(root: int) -> list[int]:
    """Return ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo and len(found) < 10_000:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_rss_kib(root: int) -> dict[str, Any]:
    """Sum VmRSS (KiB) over the process tree under ``root``; list each process too."""
    per_process: dict[int, int] = {}
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        per_process[pid] = int(line.split()[1])
                        break
        except OSError:
            continue
    return {"total_kib": sum(per_process.values()), "per_process_kib": per_process}


def tree_cpu_seconds(root: int) -> float:
    """Return user + system CPU seconds used so far by the process tree under ``root``.

    Children that exited and were reaped count too (through their parent's
    ``cutime``/``cstime``): the storm scenario replaces the server's workers.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / ticks


def machine_busy_seconds() -> float:
    """Return the CPU seconds all cores have spent busy (not idle, not iowait) so far."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """Return this process's user + system CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Measure the CPU share of this client and of the server over a window."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start_wall = perf()
        self.start_own = own_cpu_seconds()
        self.start_server = tree_cpu_seconds(server_pid) if server_pid else 0.0
        self.start_busy = machine_busy_seconds()

    def result(self) -> dict[str, float | None]:
        """Return CPU shares in percent of one core since construction; the server's in seconds.

        ``cpu_other_percent`` is what the whole machine was busy beyond this client
        and the server: other processes, and kernel work not charged to either
        (such as network soft interrupts). A high value means a noisy machine.
        """
        wall = max(perf() - self.start_wall, 1e-9)
        own = own_cpu_seconds() - self.start_own
        server = tree_cpu_seconds(self.server_pid) - self.start_server if self.server_pid else None
        busy = machine_busy_seconds() - self.start_busy
        other = busy - own - (server or 0.0)
        return {
            "cpu_client_percent": round(100.0 * own / wall, 1),
            "cpu_server_percent": None if server is None else round(100.0 * server / wall, 1),
            "cpu_server_s": None if server is None else round(server, 3),
            "cpu_other_percent": round(max(0.0, 100.0 * other / wall), 1),
        }


def listen_queue(port: int) -> int | None:
    """The backlog of the socket listening on ``port``, as the kernel applies it
    (``ss`` shows it as Send-Q: ``listen()``'s, capped at ``net.core.somaxconn``)."""
    try:
        shown = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
        return int(shown[2])
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None


def listen_drops() -> dict[str, int]:
    """The kernel's counters of connections refused by a full listen queue (whole machine)."""
    wanted = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPReqQFullDrop")
    try:
        with open("/proc/net/netstat") as handle:
            lines = [line.split() for line in handle if line.startswith("TcpExt:")]
        names, values = lines[0], lines[1]
        return {k: int(v) for k, v in zip(names, values, strict=True) if k in wanted}
    except (OSError, IndexError, ValueError):
        return {}


# -- percentiles -----------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    """Summarise latencies given in seconds as milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 3)

    return {
        "p50_ms": ms(percentile(seconds, 0.50)),
        "p99_ms": ms(percentile(seconds, 0.99)),
        "max_ms": ms(max(seconds) if seconds else None),
        "samples": len(seconds),
    }
