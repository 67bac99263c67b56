"""Fault injection: the worker survives what weeks in production throw at it.

Each test injects one fault into a real server -- a killed worker, database
backends terminated under it, an unreachable database, connection churn,
hostile framing, a client that opens TCP and says nothing at shutdown -- then
checks that the worker still serves a healthy client. Every wait is bounded;
the module takes about a minute. The figures behind these tests are in
``docs/topics/operations.rst``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import select
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .support import (
    RawClient,
    Server,
    assert_healthy,
    client_frame,
    close_frame,
    http_get,
    manage,
    raw_request,
    rss_kib,
    run_server,
    start_server,
    status_of,
    upgrade_request,
    wait_for,
    worker_pid,
)

DRIVERS = ["psycopg2", "psycopg"]


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
    wait_for(lambda: not backends(app), 10, "the terminated backends going away", interval=0.02)
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
            wait_for(
                lambda: sorted(map(str, backends(app))) == sorted(pids),
                10,
                lambda: f"the server's backends being the views' {pids} (now {backends(app)})",
            )
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
            wait_for(lambda: terminate_backends(app), 10, "a backend of the server terminated")
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
    # One response, the 500 (the debug page may quote djws's source: not its body).
    head, _, _body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"\r\n\r\nHTTP/1.1 101" not in reply
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


# The worker is killed


def reconnect_and_echo(server: Server, message: str, timeout: float = 20.0) -> None:
    """Reconnect until a worker answers (bounded), as a client's backoff would."""

    def echoed() -> bool:
        with connect(f"{server.url}/echo/", open_timeout=5) as ws:
            ws.send(message)
            assert ws.recv(timeout=5) == message
            return True

    wait_for(
        echoed,
        timeout,
        f"a worker echoing {message!r}",
        interval=0.2,
        ignoring=(OSError, ConnectionClosed, InvalidStatus, TimeoutError),
    )


def test_a_killed_worker_is_replaced_and_its_clients_reconnect() -> None:
    with run_server() as server:
        killed = worker_pid(server)
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(connect(f"{server.url}/echo/")) for _ in range(5)]
            for ws in clients:
                ws.send("before")
                assert ws.recv(timeout=10) == "before"
            os.kill(killed, signal.SIGKILL)
            for ws in clients:
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                assert closed.value.rcvd is None  # no close frame: 1006 for the client
                assert ws.protocol.close_code == 1006
        for n in range(5):
            reconnect_and_echo(server, f"after {n}")
        assert worker_pid(server) != killed  # gunicorn's arbiter started a new one
        assert_healthy(server)


# Connection churn


async def churn_round(url: str, connections: int, deflate: bool) -> None:
    """Open ``connections`` WebSockets (50 handshakes at a time), echo on each, close all.

    Held open together, their objects outlive two young collections: a
    reference cycle among them would leak, not die young.
    """
    gate = asyncio.Semaphore(50)
    compression = "deflate" if deflate else None

    async def one() -> Any:
        async with gate:
            return await async_connect(url, compression=compression, open_timeout=30)

    clients = await asyncio.gather(*(one() for _ in range(connections)))
    for n, ws in enumerate(clients):
        await ws.send(f"message {n}")
    for n, ws in enumerate(clients):
        assert await asyncio.wait_for(ws.recv(), 30) == f"message {n}"
    await asyncio.gather(*(ws.close() for ws in clients))


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_churn_leaves_the_worker_memory_flat(deflate: bool) -> None:
    """12 rounds of 300 connections: RSS after the last within 1.1x of round 3."""
    with run_server(env={"DJWS_TEST_DEBUG": "0"}) as server:
        pid = worker_pid(server)
        rss = []
        for _ in range(12):
            asyncio.run(churn_round(f"{server.url}/echo/", 300, deflate))
            time.sleep(0.2)  # the last views finish
            rss.append(rss_kib(pid))
        assert rss[-1] <= 1.1 * rss[2], f"RSS by round, KiB: {rss}"
        assert_healthy(server)


# Hostile framing


def flood(client: RawClient, frames: Iterator[bytes], pid: int) -> tuple[bytes, int]:
    """Send ``frames`` until the server answers; return its answer and the peak RSS."""
    peak = rss_kib(pid)
    batch = bytearray()
    client.sock.settimeout(30)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for frame in frames:
            batch += frame
            if len(batch) < 65536:
                continue
            client.send(bytes(batch))
            batch.clear()
            peak = max(peak, rss_kib(pid))
            if select.select([client.sock], [], [], 0)[0]:
                break
    return client.recv_frame(), max(peak, rss_kib(pid))


@pytest.fixture(scope="module")
def hostile_target() -> Iterator[tuple[Server, int]]:
    with run_server(env={"DJWS_TEST_DEBUG": "0"}) as server:
        assert_healthy(server)
        yield server, worker_pid(server)


def test_a_million_one_byte_fragments_are_refused_without_memory(
    hostile_target: tuple[Server, int],
) -> None:
    server, pid = hostile_target
    before = rss_kib(pid)
    with RawClient(server) as client:
        fragments = itertools.chain(
            [client_frame(0x2, b"x", fin=False)],
            itertools.repeat(client_frame(0x0, b"x", fin=False), 1_000_000),
        )
        answer, peak = flood(client, fragments, pid)
    assert answer == close_frame(
        1009,
        "message of 1048579 bytes or more over the limit, counting the headers of its"
        " 149797 frames",
    )
    assert peak - before < 4 * 1024, f"RSS grew by {peak - before} KiB"
    assert_healthy(server)


def test_millions_of_empty_compressed_fragments_are_refused_without_memory(
    hostile_target: tuple[Server, int],
) -> None:
    server, pid = hostile_target
    before = rss_kib(pid)
    with RawClient(server, Sec_WebSocket_Extensions="permessage-deflate") as client:
        assert "permessage-deflate" in client.response
        fragments = itertools.chain(
            [client_frame(0x2, b"", fin=False, rsv=0b100)],
            itertools.repeat(client_frame(0x0, b"", fin=False), 2_000_000),
        )
        answer, peak = flood(client, fragments, pid)
    assert answer == close_frame(
        1009,
        "compressed message of 1048578 bytes or more over the limit, counting the headers of"
        " its 174763 frames",
    )
    assert peak - before < 4 * 1024, f"RSS grew by {peak - before} KiB"
    assert_healthy(server)


# Shutdown


def test_a_connection_that_never_sent_a_request_does_not_hold_shutdown() -> None:
    server = start_server()
    try:
        assert_healthy(server)
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent,
            connect(f"{server.url}/echo/") as ws,
        ):
            ws.send("open")
            assert ws.recv(timeout=10) == "open"
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                1001,
                "server shutting down",
            )
            assert silent.recv(1) == b""  # closed, without waiting for its request
            server.process.wait(timeout=10)
            elapsed = time.monotonic() - started
        # The handshake timeout is 10 s: the silent client was not waited for.
        assert elapsed < 5.0, f"shutdown took {elapsed:.1f} s"
    finally:
        server.stop()
