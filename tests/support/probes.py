"""Looking at a running server from outside: its processes, their memory, its health.

A server started by :func:`~tests.support.servers.start_server` is a gunicorn
arbiter with worker processes; these read them from ``/proc`` and check that
the server still serves a new client after whatever a test did to it.
"""

from __future__ import annotations

import os
from pathlib import Path

from websockets.sync.client import connect

from .servers import Server
from .wait import wait_for

__all__ = ["assert_healthy", "children", "is_alive", "rss_kib", "worker_pid"]


def children(pid: int) -> list[int]:
    """The PIDs of the child processes of process ``pid`` (a server's: its workers)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def worker_pid(server: Server, timeout: float = 10.0) -> int:
    """The PID of the server's (single) gunicorn worker process."""
    workers = wait_for(
        lambda: children(server.process.pid), timeout, "the server starting a worker process"
    )
    return workers[0]


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def is_alive(pid: int) -> bool:
    """Tell whether process ``pid`` still exists."""
    return os.path.exists(f"/proc/{pid}")


def assert_healthy(server: Server) -> None:
    """A new client is served: it opens a WebSocket and gets its echo."""
    with connect(f"{server.url}/echo/", open_timeout=10) as ws:
        ws.send("still serving?")
        assert ws.recv(timeout=10) == "still serving?"
