"""The development loop, as a new user meets it: runserver beside runwebsocket.

A project made by ``django-admin startproject``, with the tutorial's files, no
broadcast setting: an ordinary view served by ``runserver`` publishes, and a
socket of ``runwebsocket`` receives it (``local://``, the default). Without
``runwebsocket``, publishing says so. Other processes of the project -- a
management command, the shell -- publish the same way.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from .support import free_port, manage, start_server

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial" / "mysite"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``django-admin startproject mysite``, then the tutorial's steps."""
    root = tmp_path_factory.mktemp("newproject")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=60,
    )
    project = root / "mysite"
    shutil.copytree(TUTORIAL / "chat", project / "chat")
    for name in ("settings.py", "urls.py", "websocket_urls.py"):
        shutil.copy(TUTORIAL / "mysite" / name, project / "mysite" / name)
    result = manage("migrate", "--noinput", "-v0", cwd=project, env={"DJWS_TEST_SQLITE": ""})
    assert result.returncode == 0, result.stderr
    return project


def env() -> dict[str, str]:
    return {"DJANGO_SETTINGS_MODULE": "mysite.settings"}


@pytest.fixture
def runserver(project: Path) -> Iterator[int]:
    port = free_port()
    server = start_server(
        f"127.0.0.1:{port}",
        command=[sys.executable, "manage.py", "runserver", "--noreload"],
        cwd=project,
        env=env(),
    )
    try:
        yield port
    finally:
        server.stop()


def announce(port: int, text: str) -> tuple[int, str]:
    """Post an announcement through runserver (with a CSRF cookie and its token)."""
    token = "djwsdeveloperloop" * 2  # any 32 letters: the cookie and the form must agree
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/chat/lobby/announce/",
            body=f"text={text}&csrfmiddlewaretoken={token[:32]}",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={token[:32]}",
            },
        )
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_a_view_served_by_runserver_reaches_a_socket_of_runwebsocket(
    project: Path, runserver: int
) -> None:
    websockets = start_server(cwd=project, env=env())
    try:
        with connect(f"{websockets.url}/chat/lobby/", open_timeout=10) as ws:
            status, _body = announce(runserver, "hello")
            assert status == 302
            assert json.loads(ws.recv(timeout=10)) == {"author": "announcement", "text": "hello"}
            # A management command of the project reaches it the same way.
            result = manage(
                "websocket_publish", "chat-lobby", "from a command", cwd=project, env=env()
            )
            assert (result.returncode, result.stderr) == (0, "")
            assert ws.recv(timeout=10) == "from a command"
    finally:
        websockets.stop()


def test_publishing_while_no_runwebsocket_runs_says_so(project: Path, runserver: int) -> None:
    status, _body = announce(runserver, "anyone?")
    assert status == 500
    result = manage("websocket_publish", "chat-lobby", "anyone?", cwd=project, env=env())
    assert result.returncode == 1
    assert result.stderr.startswith(
        "CommandError: could not publish to 'chat-lobby': no runwebsocket server is running "
        "for this project (nothing listens on "
    )
    assert "Start `python manage.py runwebsocket`" in result.stderr
