"""Mistakes that explain themselves: each one's message, as the user meets it.

Every test makes one mistake a new user makes (issue 12) through the tool the
user would be running -- ``manage.py check``, ``manage.py test``,
``runwebsocket``, gunicorn, a WebSocket client -- and asserts the exact words
that tell them what to do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from .support import PROJECT, Server, free_port, manage, project_env, run_server, start_server
from .support import upgrade_request as upgrade_bytes

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial" / "mysite"
TROUBLESHOOTING = ROOT / "docs" / "howto" / "troubleshooting.rst"

WRONG_WORKER_ADVICE = (
    "Use djws's worker: gunicorn -k djws.worker.WebSocketWorker yourproject.wsgi:websocket "
    "(or python manage.py runwebsocket)."
)
NEEDS_DJWS = (
    'needs "djws" in INSTALLED_APPS: add it to your settings (INSTALLED_APPS = [..., "djws"]). '
    "Without it, Django knows neither the runwebsocket command nor the "
    "{% load websockets %} tag library, and djws's system checks do not run."
)


def gunicorn(worker: str, app: str, port: int) -> list[str]:
    """A gunicorn command line as a user types it (no shared control socket)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        worker,
        "--no-control-socket",
        "-b",
        f"127.0.0.1:{port}",
        app,
    ]


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=PROJECT,
        env=project_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# 4. An async view


@pytest.mark.parametrize(
    "command", [["check"], ["runwebsocket", "--noreload", "127.0.0.1:0"]], ids=["check", "serve"]
)
def test_an_async_view_is_refused_when_decorated_naming_the_fix(command: list[str]) -> None:
    urlconf = "testproject.async_websocket_urls"
    result = manage(*command, env={"DJWS_TEST_WEBSOCKET_URLCONF": urlconf})
    assert result.returncode == 1
    assert (
        "?: (djws.E002) WEBSOCKET_URLCONF 'testproject.async_websocket_urls' cannot be imported: "
        "TypeError: @websocket cannot make a WebSocket view of "
        "testproject.async_websocket_urls.chat, an async function: djws runs WebSocket views "
        "synchronously, each connection in its own greenlet. Write it as a plain function, "
        "'def chat(request, ws, ...)', and call the ORM and other blocking code directly, "
        "without await.\n"
    ) in result.stderr


# 5. django-websocket's deployment: gevent-websocket's own worker


def test_the_old_gevent_websocket_worker_is_refused_at_start_naming_the_right_worker() -> None:
    result = run(
        gunicorn(
            "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "testproject.wsgi:websocket",
            free_port(),
        )
    )
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: gunicorn is running gevent-websocket's "
        "worker (-k geventwebsocket.gunicorn.workers.GeventWebSocketWorker), which answers "
        "every handshake with 101 before Django runs, so djws views can neither accept nor "
        f"refuse it. {WRONG_WORKER_ADVICE}\n"
    ) in result.stderr
    assert "Reason: Worker failed to boot." in result.stderr


def test_a_handshake_through_the_old_worker_anyway_is_closed_1011_naming_the_worker() -> None:
    # A router built by hand skips the check at start: the first handshake
    # arrives with gevent-websocket's 101 already sent.
    port = free_port()
    server = start_server(
        command=gunicorn(
            "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "testproject.wsgi_by_hand:websocket",
            port,
        )
    )
    try:
        with (
            connect(f"ws://127.0.0.1:{port}/echo/", open_timeout=10) as ws,
            pytest.raises(ConnectionClosedError) as closed,
        ):
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1011,
            "wrong gunicorn worker: use -k djws.worker.WebSocketWorker",
        )
        server.wait_for_log(
            "WebSocket handshake to /echo/ refused: this server is not djws's gunicorn worker, "
            f"so djws views can neither accept nor refuse handshakes. {WRONG_WORKER_ADVICE}\n"
        )
    finally:
        server.stop()


def test_gunicorns_plain_gevent_worker_answers_handshakes_500_naming_the_worker() -> None:
    port = free_port()
    server = start_server(command=gunicorn("gevent", "testproject.wsgi:websocket", port))
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{port}/echo/", open_timeout=10)
        assert refused.value.response.status_code == 500
        assert bytes(refused.value.response.body) == (
            f"500 Internal Server Error\n\n{WRONG_WORKER_ADVICE}\n".encode()
        )
        server.wait_for_log("WebSocket handshake to /echo/ refused: this server is not djws's")
    finally:
        server.stop()


# 6. A broadcast backend whose client library is missing


@pytest.mark.parametrize(
    ("url", "hidden", "error", "hint"),
    [
        (
            "redis://127.0.0.1:6379/0",
            ["redis"],
            "WEBSOCKET_BROADCAST_URL is a redis:// URL, but the redis package is not installed.",
            "Install it: pip install 'djws[redis]'.",
        ),
        (
            "postgresql://127.0.0.1/test",
            ["psycopg", "psycopg2"],
            "WEBSOCKET_BROADCAST_URL is a postgresql:// URL, but neither psycopg nor psycopg2 "
            "is installed.",
            "Install it: pip install 'djws[psycopg]' (psycopg 3) or "
            "pip install 'djws[postgresql]' (psycopg2).",
        ),
        (
            "database://default",
            ["psycopg", "psycopg2"],
            "WEBSOCKET_BROADCAST_URL is a database:// URL, but neither psycopg nor psycopg2 "
            "is installed.",
            "Install it: pip install 'djws[psycopg]' (psycopg 3) or "
            "pip install 'djws[postgresql]' (psycopg2).",
        ),
    ],
    ids=["redis", "postgresql", "database"],
)
def test_a_missing_backend_package_is_a_check_error_with_the_install_command(
    tmp_path: Path, url: str, hidden: list[str], error: str, hint: str
) -> None:
    # Modules of these names first on the path, failing as an absent package does.
    for name in hidden:
        (tmp_path / f"{name}.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {name!r}'!r}, name={name!r})\n"
        )
    # In front of the path the tests run with (which may name the djws under test).
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    result = manage("check", env={"DJWS_TEST_BROADCAST_URL": url, "PYTHONPATH": path})
    assert result.returncode == 1
    assert f"?: (djws.E022) {error}\n\tHINT: {hint}\n" in result.stderr


# 7. A refused Origin


def handshake(server: Server, path: str, origin: str) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(upgrade_bytes(path, Origin=origin))
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        return reply


def test_a_refused_origin_is_logged_with_the_origin_and_the_setting(server: Server) -> None:
    reply = handshake(server, "/echo/", "https://evil.example")
    assert reply.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    server.wait_for_log(
        "Forbidden (Origin 'https://evil.example' not allowed): /echo/. To allow it, set "
        "WEBSOCKET_ALLOWED_ORIGINS (None by default: the site's own host and ALLOWED_HOSTS) "
        "to a list of the origins to allow, this one and your own.\n"
    )


def test_a_refused_origin_names_the_views_own_allowed_origins(server: Server) -> None:
    reply = handshake(server, "/protocol/origin-override/", "https://other.example")
    assert reply.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    server.wait_for_log(
        "Forbidden (Origin 'https://other.example' not allowed): /protocol/origin-override/. "
        "To allow it, add it to the view's "
        "@websocket(allowed_origins=['https://app.example.com']).\n"
    )


def test_a_refused_origin_names_the_project_wide_list() -> None:
    with run_server(env={"DJWS_TEST_ALLOWED_ORIGINS": "https://app.example.com"}) as server:
        reply = handshake(server, "/echo/", "https://evil.example")
        assert reply.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        server.wait_for_log(
            "Forbidden (Origin 'https://evil.example' not allowed): /echo/. To allow it, "
            "add it to WEBSOCKET_ALLOWED_ORIGINS.\n"
        )


# 8. djws.W002 (SQLite) only where it matters


def test_the_tutorials_tests_run_without_the_sqlite_warning() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "chat", "--noinput"],
        cwd=TUTORIAL,
        env=project_env(DJWS_TEST_SQLITE=""),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced).\n" in result.stdout
    assert "djws.W002" not in result.stdout + result.stderr


def test_the_sqlite_warning_is_shown_by_check_deploy() -> None:
    result = manage("check", "--deploy")
    assert (
        "default: (djws.W002) DATABASES['default'] is SQLite.\n"
        "\tHINT: SQLite takes one writer at a time: a greenlet that waits inside a write "
        "transaction blocks every other writer in the process ('database is locked'). Fine "
        "for development; use PostgreSQL in production.\n"
    ) in result.stderr


def test_the_sqlite_warning_is_shown_when_runwebsocket_serves_without_debug() -> None:
    with run_server(env={"DJWS_TEST_DEBUG": "0"}) as server:
        assert "default: (djws.W002) DATABASES['default'] is SQLite." in server.log()
    with run_server() as server:  # DEBUG on: development, nothing to say
        assert "System check identified no issues (0 silenced)." in server.log()


# 10. "djws" missing from INSTALLED_APPS


def test_gunicorn_without_djws_installed_names_the_setting() -> None:
    result = run(
        gunicorn("djws.worker.WebSocketWorker", "testproject.wsgi:websocket", free_port()),
        env={"DJWS_TEST_WITHOUT_DJWS": "1"},
    )
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: get_wsgi_websocket_application() "
        f"{NEEDS_DJWS}\n"
    ) in result.stderr


def test_the_test_client_without_djws_installed_names_the_setting() -> None:
    result = manage("test", "testproject.client_without_djws", env={"DJWS_TEST_WITHOUT_DJWS": "1"})
    assert result.returncode == 1
    assert (
        f"django.core.exceptions.ImproperlyConfigured: djws.test.WebSocketClient {NEEDS_DJWS}\n"
    ) in result.stderr


def test_djangos_own_errors_without_djws_are_in_the_troubleshooting_guide() -> None:
    # djws cannot speak before it is installed: these are Django's words, so the
    # guide quotes them exactly, with the fix.
    guide = TROUBLESHOOTING.read_text()
    command = manage("runwebsocket", env={"DJWS_TEST_WITHOUT_DJWS": "1"})
    assert command.returncode == 1
    assert command.stderr.splitlines()[0] == "Unknown command: 'runwebsocket'"
    assert "Unknown command: 'runwebsocket'" in guide
    template = manage(
        "shell",
        "-c",
        "from django.template import engines; "
        "engines['django'].from_string('{% load websockets %}')",
        env={"DJWS_TEST_WITHOUT_DJWS": "1"},
    )
    error = "'websockets' is not a registered tag library. Must be one of:"
    assert f"django.template.exceptions.TemplateSyntaxError: {error}\n" in template.stderr
    assert error in guide
