"""Fault injection: the worker survives what weeks in production throw at it.

Each test injects one fault into a real server -- a killed worker, database
backends terminated under it, an unreachable database, connection churn,
hostile framing, a client that opens TCP and says nothing at shutdown -- then
checks that the worker still serves a healthy client. Every wait is bounded;
the module runs in CI in about a minute and a half. (Redis faults are in
``tests/test_broadcast_redis.py``.)
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .support import (
    Server,
    http_get,
    manage,
    raw_request,
    run_server,
    status_of,
    upgrade_request,
)

DRIVERS = ["psycopg2", "psycopg"]


def assert_healthy(server: Server) -> None:
    """A new client is served: it opens a WebSocket and gets its echo."""
    with connect(f"{server.url}/echo/", open_timeout=10) as ws:
        ws.send("still serving?")
        assert ws.recv(timeout=10) == "still serving?"


# The database fails over


def pg_connect() -> psycopg.Connection:
    try:
        return psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test application_name=djws-faults",
            autocommit=True,
        )
    except psycopg.OperationalError as exc:  # fail loudly: CI must have PostgreSQL
        pytest.fail(f"PostgreSQL is required at 127.0.0.1:5432 (database 'test'): {exc}")


def backends(app: str) -> list[int]:
    """The PIDs of the PostgreSQL backends of the server whose application_name is ``app``."""
    with pg_connect() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [app]
        ).fetchall()
    return [row[0] for row in rows]


def terminate_backends(app: str) -> int:
    """``pg_terminate_backend`` every backend of ``app`` (only those); wait until they are gone."""
    with pg_connect() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [app],
        ).fetchall()
    deadline = time.monotonic() + 10
    while backends(app):
        assert time.monotonic() < deadline, "terminated backends did not go away"
        time.sleep(0.02)
    return len(rows)


@contextlib.contextmanager
def pg_server(driver: str, *args: str, **env: str) -> Iterator[tuple[Server, str]]:
    app = f"djws-faults-{uuid.uuid4().hex[:10]}"
    env = {"DJWS_TEST_DATABASE": driver, "DJWS_TEST_PG_APP": app, **env}
    with run_server(*args, env=env) as server:
        yield server, app


@pytest.fixture(scope="module")
def migrated() -> None:
    pg_connect().close()
    result = manage("migrate", "--noinput", "-v0", env={"DJWS_TEST_DATABASE": "psycopg2"})
    assert result.returncode == 0, result.stderr


def whoami(server: Server, cookie: str) -> str:
    """Open /whoami/ with ``cookie``: the handshake reads the session and the user."""
    with connect(f"{server.url}/whoami/", additional_headers={"Cookie": cookie}) as ws:
        return str(ws.recv(timeout=10))


@pytest.mark.postgres
@pytest.mark.parametrize("driver", DRIVERS)
def test_after_pg_terminate_backend_every_handshake_and_query_succeeds(
    migrated: None, driver: str
) -> None:
    # The view keeps its connection while it waits (no release after 1 s idle).
    with pg_server(driver, "--http", WEBSOCKET_DB_RELEASE_DELAY="60.0") as (server, app):
        status, cookie, _body = http_get(server, "/login/failover/")
        assert status == 200
        with connect(f"{server.url}/db/resilient/") as held:
            with connect(f"{server.url}/db/resilient/") as parked:
                for ws in (held, parked):
                    ws.send("0")
                pids = {held.recv(timeout=10), parked.recv(timeout=10)}
            # The second view ended: its connection waits in the worker's pool.
            deadline = time.monotonic() + 10
            while sorted(map(str, backends(app))) != sorted(pids):
                assert time.monotonic() < deadline, (backends(app), pids)
                time.sleep(0.05)
            assert terminate_backends(app) == 2  # the view's and the pool's

            # Every handshake after it reads its session and user on a live connection.
            for _ in range(10):
                assert whoami(server, cookie) == "failover"
            # The view's connection died while it waited: its next query gets a new one.
            held.send("0")
            after = held.recv(timeout=10)
            assert after.isdigit()
            assert after not in pids
        assert "Traceback" not in server.log()
        assert_healthy(server)


@pytest.mark.postgres
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_view_whose_query_broke_gets_a_new_connection_on_its_next_query(
    migrated: None, driver: str
) -> None:
    with pg_server(driver) as (server, app):
        with connect(f"{server.url}/db/resilient/") as ws:
            ws.send("0")
            first = ws.recv(timeout=10)
            ws.send("5")  # pg_sleep(5), terminated half-way
            deadline = time.monotonic() + 10
            while not terminate_backends(app):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert ws.recv(timeout=10) == "error OperationalError"
            ws.send("0")
            second = ws.recv(timeout=10)
            assert second.isdigit()
            assert second != first
        assert_healthy(server)


class DatabaseProxy:
    """A TCP proxy in front of PostgreSQL that a test can cut, as a failover would.

    Once :meth:`cut`, open connections are closed and new ones are accepted
    and closed at once: the database is unreachable for the server behind it.
    """

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                if not self.up:
                    client.close()
                    continue
                upstream = socket.create_connection(self.target, timeout=10)
                self._open += [client, upstream]
                threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError), a, b:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)

    def cut(self) -> None:
        """Close every proxied connection and refuse new ones from now on."""
        self.up = False
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture(scope="module")
def no_database(migrated: None) -> Iterator[Server]:
    """A server whose PostgreSQL became unreachable after it started."""
    proxy = DatabaseProxy()
    env = {"DJWS_TEST_DATABASE": "psycopg2", "DJWS_TEST_PG_PORT": str(proxy.port)}
    try:
        with run_server(env=env) as server:
            proxy.cut()
            yield server
    finally:
        proxy.close()


@pytest.mark.postgres
def test_a_user_lookup_failing_before_accept_is_an_http_500(no_database: Server) -> None:
    """Nothing was accepted yet: Django's 500 reaches the client, never a 101."""
    cookie = "Cookie: sessionid=" + "a" * 32 + "\r\n"
    reply = raw_request("127.0.0.1", no_database.port, upgrade_request("/whoami/", extra=cookie))
    assert status_of(reply) == 500, reply[:200]
    assert b"101 Switching Protocols" not in reply
    assert_healthy(no_database)


@pytest.mark.postgres
def test_a_query_failing_after_accept_closes_with_1011(no_database: Server) -> None:
    """After the 101 nothing is HTTP: the failure is a close frame."""
    with connect(f"{no_database.url}/db/count/") as ws:
        ws.send("anything")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "internal server error")
    assert_healthy(no_database)
