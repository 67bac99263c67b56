"""Broadcast with the default in-process backend (memory://), on real servers."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .support import Server, ask_json, identity, join, login, manage, run_server, wait_for


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    """A memory:// server that also serves HTTP (to log in), with a small write buffer."""
    with run_server("--http", env={"WEBSOCKET_WRITE_BUFFER_LIMIT": "65536"}) as server:
        yield server


def test_forwarded_messages_reach_every_member_as_text_binary_and_json(http_server: Server) -> None:
    with join(http_server, "m-kinds") as a, join(http_server, "m-kinds") as b:
        a.send("publish héllo")
        a.send("publish-bytes raw")
        a.send('publish-json {"n": [1, 2]}')
        for ws in (a, b):
            assert ws.recv(timeout=5) == "héllo"
            assert ws.recv(timeout=5) == b"raw"
            assert ws.recv(timeout=5) == '{"n": [1, 2]}'


def test_forward_false_hands_group_messages_to_the_view(http_server: Server) -> None:
    with join(http_server, "m-relay", relay=True) as relay, join(http_server, "m-relay") as member:
        member.send("publish quiet")
        member.send('publish-json {"k": "v"}')
        member.send("publish-bytes bin")
        assert relay.recv(timeout=5) == "relayed m-relay: QUIET"
        assert json.loads(relay.recv(timeout=5)) == {"relayed": {"k": "v"}, "group": "m-relay"}
        assert relay.recv(timeout=5) == b"relayed bin"
        assert [member.recv(timeout=5) for _ in range(3)] == ["quiet", '{"k": "v"}', b"bin"]


def test_messages_of_other_groups_do_not_arrive(http_server: Server) -> None:
    with join(http_server, "m-one") as one, join(http_server, "m-two") as two:
        one.send("publish for one")
        two.send("publish for two")
        assert one.recv(timeout=5) == "for one"
        assert two.recv(timeout=5) == "for two"
        one.send("groups")
        assert json.loads(one.recv(timeout=5)) == {"groups": ["m-one"]}


def test_leave_stops_delivery_and_join_adds_groups(http_server: Server) -> None:
    with join(http_server, "m-leave") as a, join(http_server, "m-leave") as b:
        b.send("join m-extra")
        assert b.recv(timeout=5) == "joined m-extra"
        assert ask_json(b, "groups") == {"groups": ["m-extra", "m-leave"]}
        b.send("leave m-leave")
        assert b.recv(timeout=5) == "left m-leave"
        a.send("publish after leave")
        assert a.recv(timeout=5) == "after leave"
        b.send("publish m-extra is still joined")  # publishes to its own group, m-leave
        assert a.recv(timeout=5) == "m-extra is still joined"
        assert ask_json(b, "groups") == {"groups": ["m-extra"]}  # nothing else came before


def test_reserved_group_names_cannot_be_joined(http_server: Server) -> None:
    with join(http_server, "m-reserved") as ws:
        ws.send("join djws.user.1")
        assert ws.recv(timeout=5).startswith(
            "error ValueError: group names starting with 'djws.' are reserved for djws"
        )


def test_presence_lists_members_and_forgets_closed_connections(http_server: Server) -> None:
    session = login(http_server, "presence-user")
    with identity(http_server, session) as (_, me):
        pass
    with join(http_server, "m-presence") as a:

        def members() -> list[dict[str, Any]]:
            return ask_json(a, "presence")["presence"]

        with join(http_server, "m-presence", session=session):
            entries = members()
            assert sorted(entries, key=lambda e: e["user"] is None)[0]["user"] == me["user"]
            assert [e["user"] for e in entries].count(None) == 1
            assert len({e["worker"] for e in entries}) == 1
            assert len({e["connection"] for e in entries}) == 2
        wait_for(lambda: len(members()) == 1, 10, "the closed connection leaving presence")
        assert members()[0]["user"] is None


def test_send_to_user_and_session_reach_exactly_their_connections(http_server: Server) -> None:
    alice_1, alice_2, bob = (login(http_server, n) for n in ("alice", "alice", "bob"))
    with (
        identity(http_server, alice_1) as (a1, who_a1),
        identity(http_server, alice_2) as (a2, who_a2),
        identity(http_server, bob) as (b, who_b),
        identity(http_server) as (anon, who_anon),
    ):
        assert who_a1["user"] == who_a2["user"] != who_b["user"]
        assert (who_a1["session"], who_a2["session"]) == (alice_1, alice_2)
        assert who_anon == {"user": None, "session": None}
        everyone = (a1, a2, b, anon)
        for ws in everyone:  # a group of all four: its message comes last, as a fence
            ws.send("join identity")
            assert ws.recv(timeout=5) == "joined identity"
        anon.send(f"to-user {who_a1['user']} for alice")
        anon.send(f"to-session {alice_2} for alice's second session")
        anon.send("to-user 999999 for nobody")
        anon.send("publish fence")
        assert [a1.recv(timeout=5) for _ in range(2)] == ["for alice", "fence"]
        assert [a2.recv(timeout=5) for _ in range(3)] == [
            "for alice",
            "for alice's second session",
            "fence",
        ]
        assert b.recv(timeout=5) == "fence"
        assert anon.recv(timeout=5) == "fence"


@contextlib.contextmanager
def slow_reader(server: Server, group: str) -> Iterator[ClientConnection]:
    """A member with a 4 KiB receive buffer that the test never reads from."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    with connect(
        f"{server.url}/broadcast/member/{group}/",
        sock=sock,
        max_queue=1,
        compression=None,  # deflate would shrink the test's messages to nothing
        open_timeout=10,
    ) as ws:
        assert ws.recv(timeout=10) == "joined"
        yield ws


def drain(ws: ClientConnection, count: int) -> None:
    """Read up to ``count`` messages."""
    for _ in range(count):
        ws.recv(timeout=10)


def test_a_slow_client_is_closed_without_holding_up_the_others(http_server: Server) -> None:
    # WEBSOCKET_WRITE_BUFFER_LIMIT is 64 KiB on this server; 400 x 16 KiB = 6.4 MB.
    with (
        join(http_server, "m-slow", max_queue=None, compression=None) as fast,
        slow_reader(http_server, "m-slow") as slow,
        join(http_server, "m-slow", max_queue=None) as publisher,
    ):
        publisher.send("publish-many 400 16384")
        received = [fast.recv(timeout=10)[:6] for _ in range(400)]
        assert received == [f"{n:06d}" for n in range(400)]
        with pytest.raises(ConnectionClosed) as info:
            drain(slow, 400)
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (
            1008,
            "client too slow: send buffer full",
        )
        drain(publisher, 400)  # its own messages
        assert publisher.recv(timeout=10) == "published 400"
        wait_for(
            lambda: len(ask_json(publisher, "presence")["presence"]) == 2,
            10,
            "the slow client leaving presence",
        )


@pytest.mark.parametrize(
    ("url", "said"), [("memory://", "'memory://'"), ("local://", "'local://' (the default)")]
)
def test_runwebsocket_refuses_two_workers_with_an_in_memory_backend(url: str, said: str) -> None:
    result = manage(
        "runwebsocket",
        "--noreload",
        "--workers",
        "2",
        "127.0.0.1:0",
        env={"DJWS_TEST_BROADCAST_URL": url},
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        f"(djws.E021) WEBSOCKET_BROADCAST_URL is {said} but runwebsocket starts 2 workers"
    ) in result.stderr
    assert "HINT: Set WEBSOCKET_BROADCAST_URL to a shared backend" in result.stderr


def test_websocket_publish_refuses_memory_backend() -> None:
    result = manage("websocket_publish", "room", "hello")
    assert result.returncode == 1
    assert (
        "CommandError: WEBSOCKET_BROADCAST_URL is 'memory://', which only reaches"
    ) in result.stderr


def test_an_unknown_backend_url_is_a_check_error() -> None:
    result = manage("check", env={"DJWS_TEST_BROADCAST_URL": "kafka://localhost"})
    assert result.returncode == 1
    assert (
        "(djws.E020) WEBSOCKET_BROADCAST_URL 'kafka://localhost': unknown scheme 'kafka'"
    ) in result.stderr


def test_publishing_with_memory_backend_outside_a_server_warns() -> None:
    result = manage("shell", "-c", "from djws import broadcast; broadcast.publish('room', 'lost')")
    assert result.returncode == 0, result.stderr
    assert (
        "OutsideServerWarning: WEBSOCKET_BROADCAST_URL is 'memory://', which only reaches "
        "WebSockets served by this same process, and this process serves none"
    ) in result.stderr
