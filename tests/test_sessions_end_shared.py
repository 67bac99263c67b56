"""Sessions that end, and ``close_*``, across workers: memory://, Redis and PostgreSQL.

``memory://``: a view of the same process closes. Redis: ``runwebsocket
--workers 2`` with the sockets of one session on both workers; the session is
deleted from the shell and both close within a second. PostgreSQL
(``LISTEN``/``NOTIFY``): two workers too, closed from the shell.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from websockets.sync.client import ClientConnection

from .support import (
    PG_URL,
    Server,
    closed_with,
    identity,
    login,
    run_server,
    shell,
    still_open,
    unique_prefix,
)


@contextlib.contextmanager
def on_both_workers(
    server: Server, session: str | None, count: int = 2
) -> Iterator[list[ClientConnection]]:
    """At least ``count`` identity sockets of ``session``, on both workers of ``server``."""
    with contextlib.ExitStack() as stack:
        found: dict[int, list[ClientConnection]] = {}
        deadline = time.monotonic() + 30
        while len(found) < 2 or sum(map(len, found.values())) < count:
            assert time.monotonic() < deadline, f"every connection went to one worker: {found}"
            ws = stack.enter_context(identity(server, session))[0]
            ws.send("pid")
            found.setdefault(int(ws.recv(timeout=10)), []).append(ws)
        yield [ws for sockets in found.values() for ws in sockets]


def test_memory_close_from_a_view_closes_the_matching_sockets_of_its_process() -> None:
    with run_server("--http") as server:  # memory://, one worker
        session = login(server, "shared-kim")
        with identity(server, session) as (kim, who), identity(server) as (anon, _):
            anon.send("join shared-room")
            assert anon.recv(timeout=5) == "joined shared-room"
            anon.send(f"close-user {who['user']} 4001 kim out")
            assert anon.recv(timeout=5).startswith("closed at ")
            assert closed_with(kim) == (4001, "kim out")
            # The view's own socket: close_group closes the caller too.
            anon.send("close-group shared-room 4003 room closed")
            assert closed_with(anon) == (4003, "room closed")


@pytest.mark.redis
def test_redis_two_workers_a_deleted_session_closes_on_both_within_a_second() -> None:
    env = {
        "DJWS_TEST_BROADCAST_URL": "redis://127.0.0.1:6379/0",
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
    }
    with run_server("--workers", "2", "--http", env=env) as server:
        doomed, kept = login(server, "shared-lee"), login(server, "shared-lee")
        with (
            on_both_workers(server, doomed) as gone,
            on_both_workers(server, kept) as stays,
            on_both_workers(server, None) as anons,
        ):
            with identity(server, kept) as (_, who):
                lee = who["user"]
            for ws in anons:
                ws.send("join shared-room")
                assert ws.recv(timeout=5) == "joined shared-room"
            shell(
                "from django.contrib.sessions.models import Session; "
                f"Session.objects.filter(session_key={doomed!r}).delete()",
                env,
            )
            for ws in gone:
                assert closed_with(ws) == (3000, "session ended")
            anons[0].send(f"to-user {lee} still there?")
            for ws in stays:  # every socket of the user gets it
                assert ws.recv(timeout=5) == "still there?"
            shell(f"import djws; djws.close_session({kept!r}, code=4002, reason='later')", env)
            for ws in stays:
                assert closed_with(ws) == (4002, "later")
            shell("import djws; djws.close_group('shared-room', code=4003, reason='room')", env)
            for ws in anons:
                assert closed_with(ws) == (4003, "room")


@pytest.mark.postgres
def test_postgres_two_workers_close_user_and_group_from_the_shell() -> None:
    env = {
        "DJWS_TEST_BROADCAST_URL": PG_URL,
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
    }
    with run_server("--workers", "2", "--http", env=env) as server:
        session, other = login(server, "shared-max"), login(server, "shared-ned")
        with (
            on_both_workers(server, session) as maxs,
            on_both_workers(server, other) as neds,
        ):
            with identity(server, session) as (_, who):
                max_pk = who["user"]
            with identity(server, other) as (_, who):
                ned_pk = who["user"]
            neds[0].send("join shared-pg-room")
            assert neds[0].recv(timeout=5) == "joined shared-pg-room"
            shell(f"import djws; djws.close_user({max_pk!r}, code=4001, reason='max out')", env)
            for ws in maxs:
                assert closed_with(ws) == (4001, "max out")
            neds[1].send(f"to-user {ned_pk} still there?")
            for ws in neds:
                assert ws.recv(timeout=5) == "still there?"
            shell("import djws; djws.close_group('shared-pg-room', code=4003)", env)
            assert closed_with(neds[0]) == (4003, "")
            still_open(neds[1], ned_pk, via=neds[1])
