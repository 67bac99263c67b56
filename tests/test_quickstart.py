"""The README's first quick-start command works on a fresh checkout.

``./sample_site/run.sh`` must create its own virtualenv, install djws into it,
install the live pages' htmx and Turbo from npm (pinned by the sample site's
lock file), migrate SQLite and serve the playground, its static files and its
WebSockets on one port.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from websockets.sync.client import connect

from .support import free_port, http_get, start_server

REPO = Path(__file__).resolve().parent.parent


def test_sample_site_run_script_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "djws"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=60)
    port = free_port()
    server = start_server(
        f"127.0.0.1:{port}",
        command=["sh", "sample_site/run.sh"],
        cwd=clone,
        env={"VIRTUAL_ENV": "", "PYTHONPATH": ""},
        timeout=240,
    )
    try:
        assert (clone / ".venv" / "bin" / "python").exists()
        status, _cookies, body = http_get(server, "/")
        assert status == 200
        assert b"djws playground" in body
        with connect(f"ws://127.0.0.1:{port}/ws/echo/", origin=f"http://127.0.0.1:{port}") as ws:
            ws.send("quick start")
            assert ws.recv(timeout=10) == "quick start"
        for page in ("/live/htmx/", "/live/turbo/"):
            status, _cookies, body = http_get(server, page)
            assert status == 200, page
        libraries = ("htmx.org/htmx.min.js", "htmx-ext-ws/ws.min.js", "turbo/turbo.es2017-umd.js")
        for static in libraries:
            status, _cookies, body = http_get(server, f"/static/{static}")
            assert status == 200, static
            assert len(body) > 4_000, static  # the library, not an error page
    finally:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.stop()
