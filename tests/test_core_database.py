"""Views and the real PostgreSQL: one connection per greenlet, released when idle.

Run with psycopg2 (made cooperative by psycogreen) and psycopg 3 (cooperative
because it is imported after gevent's patch).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from websockets.sync.client import connect

from .support import Server, http_get, manage, run_server, wait_for

pytestmark = pytest.mark.postgres
DRIVERS = ["psycopg2", "psycopg"]


def pg_connect() -> psycopg.Connection:
    try:
        return psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True
        )
    except psycopg.OperationalError as exc:  # fail loudly: CI must have PostgreSQL
        pytest.fail(f"PostgreSQL is required at 127.0.0.1:5432 (database 'test'): {exc}")


@pytest.fixture(scope="module", autouse=True)
def migrated() -> None:
    pg_connect().close()
    result = manage("migrate", "--noinput", "-v0", env={"DJWS_TEST_DATABASE": "psycopg2"})
    assert result.returncode == 0, result.stderr


@contextlib.contextmanager
def pg_server(driver: str, *args: str, **env: str) -> Iterator[tuple[Server, str]]:
    app = f"djws-{uuid.uuid4().hex[:12]}"
    env = {"DJWS_TEST_DATABASE": driver, "DJWS_TEST_PG_APP": app, **env}
    with run_server(*args, env=env) as server:
        yield server, app


def backends(app: str) -> int:
    with pg_connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app]
        ).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize("driver", DRIVERS)
def test_queries_on_many_sockets_run_concurrently(driver: str) -> None:
    count = 20
    with pg_server(driver) as (server, _app), contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(f"{server.url}/db/sleep/")) for _ in range(count)]
        started = time.monotonic()
        for ws in sockets:
            ws.send("1")
        pids = {ws.recv(timeout=30) for ws in sockets}
        elapsed = time.monotonic() - started
    assert len(pids) == count  # every greenlet had its own connection
    assert elapsed < count / 4, f"{count} x pg_sleep(1) took {elapsed:.2f}s: not concurrent"


@pytest.mark.parametrize("driver", DRIVERS)
def test_rollback_on_one_socket_never_touches_another(driver: str) -> None:
    rolled, kept = f"rolled-{uuid.uuid4().hex}", f"kept-{uuid.uuid4().hex}"
    with pg_server(driver) as (server, _app):
        with connect(f"{server.url}/db/write/") as a, connect(f"{server.url}/db/write/") as b:
            a.send(f"rollback {rolled}")
            assert a.recv(timeout=10) == "written"  # A's transaction is open
            b.send(f"commit {kept}")
            assert b.recv(timeout=10) == "committed"
            a.send("now roll back")
            assert a.recv(timeout=10) == "rolled back"
        with connect(f"{server.url}/db/count/") as ws:
            ws.send(rolled)
            assert ws.recv(timeout=10) == "0"
            ws.send(kept)
            assert ws.recv(timeout=10) == "1"


def login_cookie(server: Server, username: str) -> str:
    status, cookies, _body = http_get(server, f"/login/{username}/")
    assert status == 200
    return cookies


@pytest.mark.parametrize("driver", DRIVERS)
def test_idle_sockets_hold_no_database_connections(driver: str) -> None:
    # 200 sockets of one user: over WEBSOCKET_LIMITS' 100 per user, turned off here.
    limits = '{"connections_per_user": null}'
    with pg_server(driver, "--http", DJWS_TEST_LIMITS=limits) as (server, app):
        cookie = login_cookie(server, "idle-user")
        with contextlib.ExitStack() as stack:
            sockets = [
                stack.enter_context(
                    connect(f"{server.url}/db/idle/", additional_headers={"Cookie": cookie})
                )
                for _ in range(200)
            ]
            # Every handshake read the session and the user from the database.
            assert {ws.recv(timeout=30) for ws in sockets} == {"user=idle-user"}
            # At most the worker's pool of idle connections (WEBSOCKET_DB_POOL_SIZE = 4).
            assert backends(app) <= 4, "idle WebSockets are holding database connections"
            with connect(f"{server.url}/db/sleep/") as ws:  # and the database still serves
                ws.send("0")
                assert ws.recv(timeout=10).isdigit()


@pytest.mark.parametrize("driver", DRIVERS)
def test_sockets_that_query_after_waiting_let_their_connections_go_when_they_wait_again(
    driver: str,
) -> None:
    with pg_server(driver) as (server, app), contextlib.ExitStack() as stack:
        # No cookie: the handshakes read nothing, and each view waits holding nothing.
        sockets = [stack.enter_context(connect(f"{server.url}/db/count/")) for _ in range(20)]
        for ws in sockets:
            ws.send("anything")
        assert {ws.recv(timeout=30) for ws in sockets} == {"0"}  # each opened a connection
        # WEBSOCKET_DB_RELEASE_DELAY (1 s) after each view waits again: back to the
        # worker's pool (4) or closed.
        wait_for(lambda: backends(app) <= 4, 10, "the views to release their connections")


def test_conn_max_age_cannot_leak_connections() -> None:
    with pg_server("psycopg2", "--http", DJWS_TEST_CONN_MAX_AGE="600") as (server, app):
        assert "djws.W001" in server.log()  # the system check says it has no effect
        for n in range(30):
            assert http_get(server, f"/login/leak-{n}/")[0] == 200
        for _ in range(5):
            with connect(f"{server.url}/db/count/") as ws:
                ws.send("x")
                assert ws.recv(timeout=10).isdigit()
        assert backends(app) <= 4  # the worker's pool, not one per request


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_released_connection_is_reused_by_the_next_socket(driver: str) -> None:
    with pg_server(driver) as (server, _app):
        with connect(f"{server.url}/db/sleep/") as ws:
            ws.send("0")
            first = ws.recv(timeout=10)
        with connect(f"{server.url}/db/sleep/") as ws:
            ws.send("0")
            assert ws.recv(timeout=10) == first  # same PostgreSQL backend, from the pool
