"""Several hosts behind one Redis: the deployment of docs/howto/scaling.rst, built for real.

Three hosts, each running ``runwebsocket --workers 2 --http`` in a network
namespace of its own, with a Redis server in another; the test client reaches
the hosts over a bridge, the hosts reach Redis over another (:mod:`.netns`).
Hosts 1 and 2 check a silent Redis connection after 1 s (``KEEPALIVE``), host 3
after djws's own 10 s. Users and sessions live in one SQLite file that every host opens (namespaces
share the filesystem), as they would in a shared database.

What is shown: group messages, ``send_to_user``, ``send_to_session`` and ``presence()``
span hosts, and so does closing the sockets of a deleted session; a host cut off from
Redis for a few seconds reconnects and delivers everything published meanwhile, once and
in order (and with djws's own keepalive the same cut is bridged by TCP, without a
reconnection); a host killed outright leaves presence within
``WEBSOCKET_BROADCAST_PRESENCE_TTL`` and the other host does not notice.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .support import Server, closed_with, identity, login, unique_prefix, wait_for
from .support.faults import collect
from .support.netns import Namespace, Network, network

pytestmark = pytest.mark.redis

#: Seconds after which a killed worker's presence entries disappear.
PRESENCE_TTL = 2.0
#: Seconds of silence after which a worker checks its Redis connection (10 in djws):
#: short, so that a cut of a few seconds is noticed and the worker reconnects.
KEEPALIVE = 1.0


@dataclass
class Cluster:
    """The network, the hosts and their servers."""

    net: Network
    one: Namespace
    two: Namespace
    #: A third host with djws's own Redis keepalive (10 s of silence before a check).
    three: Namespace
    servers: dict[str, Server]
    env: dict[str, str]

    def start(self, host: Namespace) -> Server:
        env = dict(self.env)
        if host is self.three:
            del env["DJWS_TEST_BROADCAST_KEEPALIVE"]
        server = self.net.server(host, "--workers", "2", "--http", env=env)
        self.servers[host.name] = server
        return server

    def server(self, host: Namespace) -> Server:
        return self.servers[host.name]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with network() as net:
        store = net.host("redis", front=False)
        one, two, three = net.host("h1"), net.host("h2"), net.host("h3")
        env = {
            "DJWS_TEST_BROADCAST_URL": net.redis(store),
            "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
            "DJWS_TEST_BROADCAST_PRESENCE_TTL": str(PRESENCE_TTL),
            "DJWS_TEST_BROADCAST_KEEPALIVE": str(KEEPALIVE),
            "DJWS_TEST_EXTRA_HOSTS": f"{one.front},{two.front},{three.front}",
        }
        cluster = Cluster(net, one, two, three, {}, env)
        try:
            cluster.start(one)
            cluster.start(two)
            cluster.start(three)
            yield cluster
        finally:
            for server in cluster.servers.values():
                server.stop()


@contextlib.contextmanager
def members(server: Server, group: str, count: int) -> Iterator[list[tuple[ClientConnection, int]]]:
    """``count`` members of ``group`` on ``server``, on both of its workers, with their pids.

    Which worker accepts a connection is up to the kernel: connections are
    opened until both workers hold one, those the first worker would hold
    beyond its share closed again (a worker still starting accepts none).
    """
    with contextlib.ExitStack() as stack:
        found: list[tuple[ClientConnection, int]] = []

        def on_both_workers() -> bool:
            """Open one more connection unless enough are on both workers; tell if they are."""
            if len(found) >= count and len({pid for _, pid in found}) >= 2:
                return True
            url = f"{server.url}/broadcast/member/{group}/"
            ws = stack.enter_context(connect(url, open_timeout=10, max_queue=None))
            assert ws.recv(timeout=10) == "joined"
            ws.send("pid")
            pid = int(ws.recv(timeout=10))
            pids = {p for _, p in found}
            if pid in pids and len(pids) == 1 and len(found) >= count - 1:
                ws.close()  # the other worker must get one of the ``count``
                return False
            found.append((ws, pid))
            return len(found) >= count and len({p for _, p in found}) >= 2

        wait_for(
            on_both_workers,
            30,
            lambda: f"{count} connections on both workers (found: {found})",
            interval=0.1,  # after a connection closed again, too
        )
        yield found


def publish_to(ws: ClientConnection, group: str, text: str) -> str:
    """Publish ``text`` to ``group`` through a test connection; return its position."""
    ws.send(f"publish-position-to {group} {text}")
    reply = ws.recv(timeout=10)
    assert reply.startswith("position "), reply
    return reply.removeprefix("position ")


def presence(ws: ClientConnection, group: str) -> list[dict[str, Any]]:
    ws.send(f"presence {group}")
    reply = ws.recv(timeout=10)
    assert reply.startswith("{"), reply
    return json.loads(reply)["presence"]


def hosts_and_pids(entries: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(hostname, pid) of each presence entry: its worker reads ``host:pid:token``."""
    return sorted((e["worker"].split(":")[0], int(e["worker"].split(":")[1])) for e in entries)


def count(server: Server, text: str) -> int:
    return server.log().count(text)


def test_group_messages_from_either_host_reach_members_on_both_in_publish_order(
    cluster: Cluster,
) -> None:
    one, two = cluster.server(cluster.one), cluster.server(cluster.two)
    with (
        members(one, "mh-order", 2) as on_one,
        members(two, "mh-order", 2) as on_two,
        members(one, "mh-src-1", 1) as sources_one,
        members(two, "mh-src-2", 1) as sources_two,
    ):
        from_one, from_two = sources_one[0][0], sources_two[0][0]
        positions = []
        for n in range(20):
            positions.append(publish_to(from_one, "mh-order", f"one {n}"))
            positions.append(publish_to(from_two, "mh-order", f"two {n}"))
        assert [int(p.split(":")[1]) for p in positions] == list(range(1, 41))
        assert len({p.split(":")[0] for p in positions}) == 1  # one epoch: one stream
        expected = [f"{host} {n}" for n in range(20) for host in ("one", "two")]
        for ws, _ in on_one + on_two:
            assert [ws.recv(timeout=10) for _ in range(40)] == expected


def test_presence_lists_the_connections_of_both_hosts(cluster: Cluster) -> None:
    one, two = cluster.server(cluster.one), cluster.server(cluster.two)
    with members(one, "mh-who", 2) as on_one, members(two, "mh-who", 2) as on_two:
        expected = sorted(
            [(cluster.one.hostname, pid) for _, pid in on_one]
            + [(cluster.two.hostname, pid) for _, pid in on_two]
        )
        for ws, _ in (on_one[0], on_two[0]):
            entries = presence(ws, "mh-who")
            assert hosts_and_pids(entries) == expected
            assert [e["user"] for e in entries] == [None] * len(expected)


def test_user_and_session_sends_reach_exactly_their_sockets_on_every_host(
    cluster: Cluster,
) -> None:
    one, two = cluster.server(cluster.one), cluster.server(cluster.two)
    # Sessions are made on one host and used on the other: the database is shared.
    alice_1, alice_2, bob = login(two, "mh-alice"), login(one, "mh-alice"), login(two, "mh-bob")
    with (
        identity(one, alice_1) as (a1_one, who_a1),
        identity(two, alice_1) as (a1_two, who_a1_two),
        identity(two, alice_2) as (a2, who_a2),
        identity(one, bob) as (b, who_b),
        identity(two) as (anon, _),
    ):
        assert who_a1 == who_a1_two == {"user": who_a2["user"], "session": alice_1}
        assert who_b["user"] not in (None, who_a1["user"])
        sockets = {"a1_one": a1_one, "a1_two": a1_two, "a2": a2, "b": b, "anon": anon}
        for ws in sockets.values():
            ws.send("join identity")
            assert ws.recv(timeout=10) == "joined identity"
        # From host 2 (one connection: its commands run in order), then from host 1.
        anon.send(f"to-user {who_a1['user']} for alice")
        anon.send(f"to-session {alice_1} for alice's first session")
        anon.send("publish fence 1")
        first = ["for alice", "for alice's first session", "fence 1"]
        expected = {
            "a1_one": first,
            "a1_two": first,
            "a2": ["for alice", "fence 1"],
            "b": ["fence 1"],
            "anon": ["fence 1"],
        }
        for name, ws in sockets.items():
            assert [ws.recv(timeout=10) for _ in expected[name]] == expected[name], name
        b.send(f"to-session {alice_2} for alice's second session")
        b.send(f"to-user {who_b['user']} for bob")
        b.send("publish fence 2")
        expected = {
            "a1_one": ["fence 2"],
            "a1_two": ["fence 2"],
            "a2": ["for alice's second session", "fence 2"],
            "b": ["for bob", "fence 2"],
            "anon": ["fence 2"],
        }
        for name, ws in sockets.items():
            assert [ws.recv(timeout=10) for _ in expected[name]] == expected[name], name


def test_a_session_deleted_on_one_host_closes_its_sockets_on_every_host_within_a_second(
    cluster: Cluster,
) -> None:
    one, two = cluster.server(cluster.one), cluster.server(cluster.two)
    three = cluster.server(cluster.three)
    doomed, kept = login(one, "mh-ended"), login(two, "mh-ended")
    with (
        identity(one, doomed) as (d1, _),
        identity(three, doomed) as (d3, _),
        identity(two, doomed) as (d2, _),
        identity(three, kept) as (k3, who),
    ):
        with urllib.request.urlopen(f"{two.http_url}/end-session/{doomed}/", timeout=10) as r:
            assert r.read() == b"deleted 1"
        for ws in (d1, d2, d3):
            assert closed_with(ws) == (3000, "session ended")
        k3.send(f"to-user {who['user']} still there")
        assert k3.recv(timeout=5) == "still there"


def test_a_host_cut_off_from_redis_reconnects_and_delivers_everything_once_in_order(
    cluster: Cluster,
) -> None:
    """While host 1's link to Redis is down for 4 s, host 2 publishes 20 messages a
    second; host 1's workers notice, reconnect when the link is back, and read what
    they missed from Redis's streams before going live again."""
    one, two = cluster.server(cluster.one), cluster.server(cluster.two)
    down, up = "unreachable", "connected ("
    with members(one, "mh-cut", 4) as on_one, members(two, "mh-cut", 2) as on_two:
        before = {host: (count(s, down), count(s, up)) for host, s in (("one", one), ("two", two))}
        publisher = cluster.net.publisher(cluster.two, "mh-cut", 140, 20.0, cluster.env)
        time.sleep(1.0)
        cluster.net.cut(cluster.one)
        try:
            time.sleep(4.0)
        finally:
            cluster.net.restore(cluster.one)
        publisher.wait(timeout=60)
        assert publisher.failed == [], "host 2 was never cut off: every publish must succeed"
        assert publisher.stored == list(range(140))
        for ws, _ in on_one + on_two:
            assert collect(ws, publisher.stored, 140, timeout=30) == publisher.stored
        # Both of host 1's workers lost Redis once and came back once; host 2's never.
        wait_for(lambda: count(one, up) == before["one"][1] + 2, 10, "host 1 did not reconnect")
        assert count(one, down) == before["one"][0] + 2, one.log()
        assert (count(two, down), count(two, up)) == before["two"]
        # Host 1's presence entries expired during the cut; its workers wrote them again.
        everyone = sorted(
            [(cluster.one.hostname, pid) for _, pid in on_one]
            + [(cluster.two.hostname, pid) for _, pid in on_two]
        )
        ws = on_two[0][0]
        wait_for(lambda: hosts_and_pids(presence(ws, "mh-cut")) == everyone, 10, "presence")


def test_a_cut_shorter_than_the_keepalive_is_bridged_by_tcp_without_a_reconnection(
    cluster: Cluster,
) -> None:
    """With djws's own keepalive (a check after 10 s of silence), a 4 s cut goes
    unnoticed: Redis retransmits what the link dropped once it is back, and the
    subscription carries on. Nothing is lost this way either."""
    three, two = cluster.server(cluster.three), cluster.server(cluster.two)
    with members(three, "mh-blip", 2) as on_three:
        before = (count(three, "unreachable"), count(three, "connected ("))
        publisher = cluster.net.publisher(cluster.two, "mh-blip", 100, 20.0, cluster.env)
        time.sleep(1.0)
        cluster.net.cut(cluster.three)
        try:
            time.sleep(4.0)
        finally:
            cluster.net.restore(cluster.three)
        publisher.wait(timeout=60)
        assert publisher.stored == list(range(100))
        for ws, _ in on_three:
            assert collect(ws, publisher.stored, 100, timeout=30) == publisher.stored
        assert (count(three, "unreachable"), count(three, "connected (")) == before
        assert count(two, "unreachable") == 0


def test_a_killed_host_leaves_presence_within_the_ttl_and_the_other_host_carries_on(
    cluster: Cluster,
) -> None:
    one, two = cluster.server(cluster.one), cluster.server(cluster.two)
    try:
        with members(one, "mh-kill", 2) as on_one, members(two, "mh-kill", 2) as on_two:
            ws = on_one[0][0]
            warnings_before = count(one, "unreachable")
            assert {h for h, _ in hosts_and_pids(presence(ws, "mh-kill"))} == {
                cluster.one.hostname,
                cluster.two.hostname,
            }
            cluster.two.kill_all()  # the arbiter and both workers: SIGKILL, no goodbye
            killed_at = time.monotonic()
            survivors = sorted((cluster.one.hostname, pid) for _, pid in on_one)
            # Host 2's liveness keys expire at most a TTL after its last refresh, which
            # came before the kill (give or take a refresh in flight): any query sent
            # after that must leave its connections out, however long it takes.
            expired = killed_at + PRESENCE_TTL + 0.25

            def queried_once_expired() -> tuple[float, list[tuple[str, int]]] | None:
                sent = time.monotonic()
                found = hosts_and_pids(presence(ws, "mh-kill"))
                return (sent, found) if sent >= expired else None

            sent, found = wait_for(
                queried_once_expired, 10, "a presence query sent once host 2's keys expired"
            )
            assert found == survivors, f"{sent - killed_at:.2f} s after the kill"
            for gone, _ in on_two:
                with pytest.raises(ConnectionClosed) as closed:
                    gone.recv(timeout=10)
                assert closed.value.rcvd is None  # cut, not closed: 1006
            # Host 1 noticed nothing: same connections, messages still flow.
            # The publisher is a member too: the message may reach it before its position.
            publisher, other = on_one[1][0], on_one[0][0]
            publisher.send("publish-position-to mh-kill still here")
            replies = sorted(publisher.recv(timeout=10) for _ in range(2))
            assert replies[0].startswith("position "), replies
            assert replies[1] == "still here"
            assert other.recv(timeout=10) == "still here"
            assert count(one, "unreachable") == warnings_before
    finally:
        two.stop()
        cluster.start(cluster.two)  # for any test that runs after this one
