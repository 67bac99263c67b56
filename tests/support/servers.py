"""Real ``runwebsocket`` servers for tests, the test project's commands, and raw HTTP.

Every server is a real process started the way a user starts one
(``python manage.py runwebsocket --noreload 127.0.0.1:0``) in the test project
``tests/project``. :func:`run_server` yields a :class:`Server` once it answers;
:func:`manage` runs a management command to completion; :func:`raw_request`,
:func:`upgrade_request` and :func:`http_get` talk to a server over plain sockets.

The session's SQLite database (``DJWS_TEST_SQLITE``, named by
``tests/conftest.py``) is migrated the first time a command or server of the
test project needs it: :func:`project_env` does it, outside the fast tier.

Tests of the fast tier start no server and run no ``manage.py``: while one
runs, ``tests/conftest.py`` calls :func:`forbid_servers`, and starting one
raises :exc:`ServerForbidden`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .wait import wait_for

#: The test project (``tests/project``) whose ``manage.py`` the servers run.
PROJECT = Path(__file__).resolve().parent.parent / "project"
#: The sample site (the playground) at the top of the repository.
SAMPLE_SITE = Path(__file__).resolve().parent.parent.parent / "sample_site"
URL_RE = re.compile(r"(?:ws|wss|http|https)://(?:\[[^\]]+\]|[\w.]+):(\d+)(?:/|\s|$)")
#: The management commands that serve: running one starts a server.
SERVER_COMMANDS = frozenset({"runwebsocket", "runserver"})


class ServerForbidden(Exception):  # noqa: N818 - it says what happened
    """A test of the fast tier tried to start a server process, or to run manage.py."""


#: The test running now, when it belongs to the fast tier (see :func:`forbid_servers`).
_fast_test: str | None = None


def forbid_servers(test: str | None) -> None:
    """Refuse to start any server or command while ``test`` (a fast test's id) runs.

    None allows them again.
    """
    global _fast_test
    _fast_test = test


def refuse_in_the_fast_tier(what: str) -> None:
    """Raise :exc:`ServerForbidden` if a test of the fast tier is running."""
    if _fast_test is not None:
        raise ServerForbidden(
            f"{_fast_test} is marked fast but started {what}: the fast tier "
            "(./runtests.sh --fast) starts no server process and runs no manage.py. Test the "
            "view in-process with djws.test.WebSocketClient, or drop the test's fast mark."
        )


@dataclass
class Server:
    """A running server process and what it printed."""

    process: subprocess.Popen[str]
    port: int
    host: str = "127.0.0.1"
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        """Everything the server printed so far."""
        return "".join(self.output)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        """Wait until the server printed ``text``."""
        wait_for(
            lambda: text in self.log(),
            timeout,
            lambda: f"the server printing {text!r}; output:\n{self.log()}",
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait for the process to exit; return its status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def project_env(**overrides: str) -> dict[str, str]:
    """The environment a test project command runs with (its session database migrated)."""
    if _fast_test is None:
        _migrate_session_database()
    return _environment(overrides)


def _environment(overrides: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.setdefault("DJWS_TEST_SQLITE", os.environ.get("DJWS_TEST_SQLITE", ""))
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


#: The session database files migrated so far (one per pytest session).
_migrated: set[str] = set()


def _migrate_session_database() -> None:
    """Migrate the session's SQLite database (``DJWS_TEST_SQLITE``) the first time."""
    path = os.environ.get("DJWS_TEST_SQLITE")
    if not path or path in _migrated:
        return
    _migrated.add(path)
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=PROJECT,
        env=_environment({}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        _migrated.discard(path)
        raise AssertionError(f"migrating the session database failed:\n{result.stderr}")


def manage(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path = PROJECT
) -> subprocess.CompletedProcess[str]:
    """Run a management command of the test project (or of ``cwd``'s) to completion."""
    serving = "a server " if args and args[0] in SERVER_COMMANDS else ""
    refuse_in_the_fast_tier(f"{serving}(manage.py {' '.join(args[:1])})")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=project_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_server(
    *args: str,
    env: dict[str, str] | None = None,
    reload: bool = False,
    cwd: Path = PROJECT,
    command: list[str] | None = None,
    timeout: float = 20.0,
) -> Server:
    """Start a server and return once it accepts TCP connections."""
    refuse_in_the_fast_tier(f"a server ({' '.join(command or ['manage.py', 'runwebsocket'])})")
    if command is None:
        command = [sys.executable, "manage.py", "runwebsocket"]
        if not reload:
            command.append("--noreload")
        # An address is "host:port" or "[v6]:port": an option's value ("2") is not one.
        if not any(":" in a and not a.startswith("-") for a in args):
            command.append("127.0.0.1:0")
    process = subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        env=project_env(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    port_found = threading.Event()
    ports: list[int] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            match = URL_RE.search(line)
            if match and not ports:
                ports.append(int(match.group(1)))
                port_found.set()
        port_found.set()

    threading.Thread(target=pump, daemon=True).start()
    if not port_found.wait(timeout) or not ports:
        process.kill()
        process.wait()
        raise AssertionError(f"server did not start:\n{''.join(output)}")
    server = Server(process=process, port=ports[0], output=output)
    host = "::1" if "[::1]" in "".join(output) else "127.0.0.1"
    server.host = f"[{host}]" if ":" in host else host
    wait_for_port(host, server.port, timeout)
    return server


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until something listens on ``host:port``."""

    def listening() -> bool:
        socket.create_connection((host, port), timeout=1).close()
        return True

    wait_for(listening, timeout, f"something listening on {host}:{port}", ignoring=(OSError,))


@contextlib.contextmanager
def run_server(*args: str, **kwargs: object) -> Iterator[Server]:
    """Run a server for the duration of a ``with`` block."""
    server = start_server(*args, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def raw_request(host: str, port: int, request: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes or ``timeout``; return the reply."""
    with socket.create_connection((host.strip("[]"), port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and request.startswith(b"GET") is False:
                    break
        return b"".join(chunks)


def upgrade_request(
    path: str = "/echo/", *, host: str = "127.0.0.1", extra: str = "", **headers: str
) -> bytes:
    """A raw WebSocket upgrade request; ``headers`` override the defaults (None removes)."""
    base = {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    for name, value in headers.items():
        base[name.replace("_", "-")] = value
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in base.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")


def status_of(reply: bytes) -> int:
    """The HTTP status code of a raw reply."""
    return int(reply.split(b" ", 2)[1])


def http_get(server: Server, path: str, cookie: str = "") -> tuple[int, str, bytes]:
    """GET ``path`` from an --http server; return status, the cookies it set, and the body.

    The cookies come back as one ``Cookie`` header value (``a=1; b=2``), merged
    with those sent.
    """
    import http.client
    from http.cookies import SimpleCookie

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        jar = SimpleCookie(cookie)
        for header in response.msg.get_all("Set-Cookie") or []:
            jar.load(header)
        cookies = "; ".join(f"{k}={m.value}" for k, m in jar.items())
        return response.status, cookies, response.read()
    finally:
        conn.close()
