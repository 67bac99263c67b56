"""Sessions that end close their sockets, on a real server (one worker, ``local://``).

Logout over HTTP, a session deleted from another process, a password change,
an expiry, and ``close_user`` / ``close_session`` / ``close_group`` called from
``manage.py shell``: each closes exactly the matching sockets, with the code and
reason documented in docs/topics/close-codes.rst, and a closed socket gets no
more ``send_to_user`` messages. The Redis and PostgreSQL versions, several
workers and several hosts are in tests/test_sessions_end_shared.py and
tests/test_multihost.py.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from .support import Server, closed_with, http_get, identity, login, manage, run_server, still_open
from .support import shell as run_shell

LOCAL = {"DJWS_TEST_BROADCAST_URL": "local://"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server("--http", env=LOCAL) as server:
        yield server


def shell(code: str, env: dict[str, str] = LOCAL) -> None:
    run_shell(code, env)


@contextlib.contextmanager
def sockets(server: Server, *sessions: str | None) -> Iterator[list[ClientConnection]]:
    """One identity socket per session (None: anonymous)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(identity(server, s))[0] for s in sessions]


def user_of(server: Server, session: str) -> Any:
    with identity(server, session) as (_, who):
        return who["user"]


def test_logout_closes_that_sessions_sockets_and_no_other(server: Server) -> None:
    first, second = login(server, "end-alice"), login(server, "end-alice")
    other = login(server, "end-bob")
    alice = user_of(server, first)
    with sockets(server, first, first, second, other, None) as (a1, a1b, a2, bob, anon):
        status, _, body = http_get(server, "/logout/", f"sessionid={first}")
        assert (status, body) == (200, b"logged out")
        assert closed_with(a1) == (3000, "logged out")
        assert closed_with(a1b) == (3000, "logged out")
        # The same user's other session, another user and an anonymous socket stay open,
        # and the closed sockets get no more of the user's messages.
        still_open(a2, alice, via=anon)
        for ws in (bob, anon):
            ws.send("groups")
            assert json.loads(ws.recv(timeout=5)) == {"groups": []}
    # A new handshake with the old cookie is anonymous, and has no session.
    with identity(server, first) as (_, who):
        assert who == {"user": None, "session": None}


def test_a_session_deleted_in_another_process_closes_its_sockets_within_a_second(
    server: Server,
) -> None:
    doomed, kept = login(server, "end-carol"), login(server, "end-carol")
    carol = user_of(server, kept)
    with sockets(server, doomed, kept) as (gone, stays):
        shell(
            "from django.contrib.sessions.models import Session; "
            f"Session.objects.filter(session_key={doomed!r}).delete()"
        )
        assert closed_with(gone) == (3000, "session ended")
        still_open(stays, carol, via=stays)


def test_clearsessions_closes_the_sockets_of_expired_sessions(server: Server) -> None:
    expired, fresh = login(server, "end-dan"), login(server, "end-dan")
    dan = user_of(server, fresh)
    with sockets(server, expired, fresh) as (gone, stays):
        shell(
            "import datetime; from django.contrib.sessions.models import Session; "
            f"Session.objects.filter(session_key={expired!r})"
            ".update(expire_date=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))"
        )
        result = manage("clearsessions", env=LOCAL)
        assert (result.returncode, result.stderr) == (0, "")
        code_reason = closed_with(gone)
        # Whichever sees it first: the keepalive's expiry check or clearsessions' delete.
        assert code_reason in ((3000, "session ended"), (3000, "session expired"))
        still_open(stays, dan, via=stays)


def test_a_password_change_closes_the_users_other_sessions_not_the_one_that_changed_it(
    server: Server,
) -> None:
    changer, other = login(server, "end-erin"), login(server, "end-erin")
    erin = user_of(server, changer)
    with sockets(server, changer, other, None) as (mine, theirs, anon):
        status, cookies, body = http_get(server, "/password/s3cret-1/", f"sessionid={changer}")
        assert status == 200, body
        assert closed_with(theirs) == (3000, "password changed")
        still_open(mine, erin, via=anon)
        # update_session_auth_hash() gave the session a new key: its socket follows it.
        new_key = body.decode().rsplit(" ", 1)[1]
        assert new_key != changer
        assert f"sessionid={new_key}" in cookies
        anon.send(f"to-session {new_key} to the new key")
        assert mine.recv(timeout=5) == "to the new key"
        # And that session is still logged in over HTTP; the other one is not.
        with identity(server, new_key) as (_, who):
            assert who["user"] == erin
        with identity(server, other) as (_, who):
            assert who["user"] is None


def test_a_password_changed_from_the_shell_closes_every_session_of_the_user(
    server: Server,
) -> None:
    one, two = login(server, "end-fay"), login(server, "end-fay")
    with sockets(server, one, two, None) as (a, b, anon):
        shell(
            "from django.contrib.auth.models import User; "
            "u = User.objects.get(username='end-fay'); u.set_password('x'); u.save()"
        )
        assert closed_with(a) == (3000, "password changed")
        assert closed_with(b) == (3000, "password changed")
        anon.send("groups")
        assert json.loads(anon.recv(timeout=5)) == {"groups": []}


def test_close_user_session_and_group_from_the_shell_close_exactly_their_sockets(
    server: Server,
) -> None:
    g1, g2 = login(server, "end-gil"), login(server, "end-gil")
    h1 = login(server, "end-hal")
    gil = user_of(server, g1)
    with sockets(server, g1, g2, h1, None, None) as (a, b, c, anon, anon_in_room):
        for ws in (c, anon_in_room):
            ws.send("join end-room")
            assert ws.recv(timeout=5) == "joined end-room"
        shell(f"import djws; print(djws.close_session({g2!r}, code=4002, reason='bye session'))")
        assert closed_with(b) == (4002, "bye session")
        shell(f"import djws; djws.close_user({gil!r}, code=4001, reason='bye gil')")
        assert closed_with(a) == (4001, "bye gil")
        shell("from djws import broadcast; broadcast.close_group('end-room', code=4003)")
        assert closed_with(c) == (4003, "")
        assert closed_with(anon_in_room) == (4003, "")
        anon.send("groups")
        assert json.loads(anon.recv(timeout=5)) == {"groups": []}


def test_closing_takes_no_position_from_the_groups_clients_resume(server: Server) -> None:
    with sockets(server, None, None) as (publisher, member):
        member.send("join end-resume")
        assert member.recv(timeout=5) == "joined end-resume"
        publisher.send("publish-position-to end-resume one")
        first = publisher.recv(timeout=5).split(" ", 1)[1]
        assert member.recv(timeout=5) == "one"
        shell("import djws; djws.close_group('end-resume', code=4000, reason='moved')")
        assert closed_with(member) == (4000, "moved")
        publisher.send("publish-position-to end-resume two")
        second = publisher.recv(timeout=5).split(" ", 1)[1]
    epoch, offset = first.split(":")
    assert second == f"{epoch}:{int(offset) + 1}"


def test_a_close_order_that_cannot_be_published_raises() -> None:
    code = (
        "from djws import broadcast\n"
        "try:\n    broadcast.close_user(1, code=3000, reason='x')\n"
        "except broadcast.PublishError as exc:\n    print('PublishError', exc)\n"
    )
    env = {"DJWS_TEST_BROADCAST_URL": "redis://127.0.0.1:1/0"}  # nothing listens there
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.stdout.startswith(
        "PublishError could not publish to group 'djws.closes': "
        "Redis at redis://127.0.0.1:1/0 failed: "
    ), result.stdout + result.stderr


def test_an_expired_session_closes_its_socket_and_an_extended_one_does_not() -> None:
    with run_server("--http", env={**LOCAL, "DJWS_TEST_SESSION_COOKIE_AGE": "3"}) as server:
        expiring = login(server, "end-ivy")
        extended = login(server, "end-ivy")
        logged_in = time.monotonic()
        with sockets(server, expiring, extended) as (short, long):
            time.sleep(1.5)
            # An ordinary request that modifies the session saves it: 3 s from now.
            assert http_get(server, "/", f"sessionid={extended}")[0] == 200
            extended_at = time.monotonic()
            assert closed_with(short, timeout=5) == (3000, "session expired")
            closed_after = time.monotonic() - logged_in
            assert 2.5 < closed_after < 4.5, closed_after
            # The extended one is open past the first expiry, and closes at its own.
            assert closed_with(long, timeout=5) == (3000, "session expired")
            assert 2.5 < time.monotonic() - extended_at < 4.5


def test_the_cache_engine_closes_on_logout_and_the_check_says_what_it_misses() -> None:
    env = {**LOCAL, "DJWS_TEST_SESSION_ENGINE": "django.contrib.sessions.backends.cache"}
    result = manage("check", env=env)
    assert "(djws.W030) SESSION_ENGINE 'django.contrib.sessions.backends.cache'" in result.stderr
    with run_server("--http", env=env) as server:
        first, second = login(server, "end-jo"), login(server, "end-jo")
        with sockets(server, first, second) as (a, b):
            assert http_get(server, "/logout/", f"sessionid={first}")[0] == 200
            assert closed_with(a) == (3000, "logged out")
            user = user_of(server, second)
            still_open(b, user, via=b)
