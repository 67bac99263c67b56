"""Development mode: Django's autoreloader restarts the server when code changes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from .support import PROJECT, Server, start_server, wait_for


def first_message(server: Server, path: str = "/stamp/") -> str | None:
    try:
        with connect(f"{server.url}{path}", open_timeout=2) as ws:
            return ws.recv(timeout=2)
    except Exception:  # noqa: BLE001 - restarting: refused, reset or timed out
        return None


def wait_for_message(server: Server, expected: str, timeout: float = 30.0) -> None:
    wait_for(
        lambda: first_message(server) == expected,
        timeout,
        lambda: (
            f"the first message becoming {expected!r} (now {first_message(server)!r}):\n"
            f"{server.log()}"
        ),
        interval=0.2,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    # Make the change visible to the stat-based reloader even within one second.
    later = time.time() + 2
    os.utime(path, (later, later))


def test_edited_view_is_served_after_reload(project_copy: Path) -> None:
    server = start_server(reload=True, cwd=project_copy)
    try:
        wait_for_message(server, "stamped")
        views = project_copy / "testproject" / "views.py"
        edit(views, '"stamped" if', '"stamped again" if')
        wait_for_message(server, "stamped again")

        edit(views, "def stamp(request, ws):", "def stamp(request, ws) oops:")
        server.wait_for_log("SyntaxError", timeout=30)
        # Django's StatReloader takes its baseline on its first one-second tick; an
        # edit made before that would be part of the baseline and go unnoticed.
        time.sleep(2.5)
        edit(views, "def stamp(request, ws) oops:", "def stamp(request, ws):")
        wait_for_message(server, "stamped again")
    finally:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.stop()


def group_processes(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def test_sigint_to_a_background_jobs_group_stops_every_process(project_copy: Path) -> None:
    """A script starts runwebsocket in the background (so the shell makes it ignore
    SIGINT, as POSIX shells do for background jobs); SIGINT to the process group
    must still stop the supervisors too, and free the port."""
    script = f"{sys.executable} manage.py runwebsocket 127.0.0.1:0 & wait"
    server = start_server(command=["bash", "-c", script], cwd=project_copy)
    pgid = server.process.pid
    try:
        wait_for_message(server, "stamped")
        # bash, the reloader, its child, gunicorn's arbiter and worker.
        assert len(group_processes(pgid)) == 5
        os.killpg(pgid, signal.SIGINT)
        wait_for(
            lambda: not group_processes(pgid),
            20,
            lambda: f"every process of the group stopping (still running: {group_processes(pgid)})",
            interval=0.1,
        )
        with socket.socket() as probe:
            # Nothing listens any more (SO_REUSEADDR only passes over TIME_WAIT).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", server.port))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        server.stop()
