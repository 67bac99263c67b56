"""What one client may do: ``WEBSOCKET_LIMITS``, crossed on real servers.

Each limit is set low for the test; crossing it closes with 1008 and a reason
naming it (or, for handshakes, answers 429 with Retry-After), is logged once a
minute per client naming the setting, and leaves the other clients served.
The bookkeeping itself (buckets, counts, the client address behind a proxy) is
checked without a server first.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from djws.limits import DEFAULT_LIMITS, Limits, Open, client_address
from djws.server.limits import AddressBuckets, Budget

from .support import (
    RawClient,
    Server,
    assert_healthy,
    client_frame,
    close_frame,
    http_get,
    manage,
    rss_kib,
    run_server,
    status_of,
    upgrade_request,
    worker_pid,
)

# The bookkeeping, without a server


@pytest.mark.fast
def test_the_setting_overrides_the_defaults_and_a_view_overrides_the_setting() -> None:
    limits = Limits.read({"messages_per_second": 10, "bytes_per_second": None})
    assert limits.messages_per_second == 10
    assert limits.bytes_per_second is None
    assert limits.groups_per_connection == DEFAULT_LIMITS["groups_per_connection"] == 1000
    assert limits.updated({"groups_per_connection": 5}).groups_per_connection == 5
    with pytest.raises(ValueError, match="unknown limit 'message_rate'; the limits are"):
        limits.updated({"message_rate": 5})
    with pytest.raises(ValueError, match="must be a positive number or None, not 0"):
        limits.updated({"message_burst": 0})


@pytest.mark.fast
def test_a_budget_allows_a_burst_then_the_rate() -> None:
    budget = Budget(Limits.read({"messages_per_second": 100, "message_burst": 10}), "10.0.0.1")
    assert budget.spend(["m"] * 10, 100) is None  # the whole burst at once
    assert budget.spend(["m"], 10) == "too many messages: over 100 a second"
    budget = Budget(Limits.read({"bytes_per_second": 1000, "byte_burst": 1000}), "10.0.0.1")
    assert budget.spend([b"x" * 10], 1000) is None  # the bytes read
    assert budget.spend([], 100) == "too many bytes: over 1000 a second"
    budget = Budget(Limits.read({"bytes_per_second": 1000, "byte_burst": 1000}), "10.0.0.1")
    assert budget.spend(["x" * 1000], None) is None  # compressed: what it inflates to
    assert budget.spend(["x"], None) == "too many bytes: over 1000 a second"


@pytest.mark.fast
def test_open_connections_are_counted_by_user_and_address() -> None:
    limits = Limits.read({"connections_per_user": 2, "connections_per_address": 3})
    counts = Open()
    assert [counts.add(7, "a", limits) for _ in range(3)] == [None, None, "connections_per_user"]
    assert counts.add(None, "a", limits) is None  # anonymous: counted by address only
    assert counts.add(None, "a", limits) == "connections_per_address"
    counts.remove(7, "a")
    assert counts.add(7, "a", limits) is None
    for _ in range(3):
        counts.remove(7, "a") if counts.by_user[7] else counts.remove(None, "a")
    assert dict(counts.by_address) == {}
    assert dict(counts.by_user) == {}


@pytest.mark.fast
def test_handshake_buckets_refill_and_say_how_long_to_wait() -> None:
    buckets = AddressBuckets()
    assert [buckets.take("a", 10, 3, now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 10, 3, now=0.0) == pytest.approx(0.1)
    assert buckets.take("b", 10, 3, now=0.0) == 0.0  # another address, another bucket
    assert buckets.take("a", 10, 3, now=0.1) == 0.0  # one token back after 0.1 s
    for n in range(AddressBuckets.PRUNE_AT + 1):
        buckets.take(f"x{n}", 10, 3, now=10.0)
    assert len(buckets) <= AddressBuckets.PRUNE_AT + 1
    buckets.take("late", 10, 3, now=20.0)  # the full ones are forgotten when it grows
    assert len(buckets) < 10


@pytest.mark.fast
@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.7", "203.0.113.5"),  # not a trusted proxy: ignored
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "198.51.100.7, 10.0.0.2, 127.0.0.1", "10.0.0.2"),
        ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
    ],
)
def test_the_client_address_is_the_one_trusted_proxies_forward(
    peer: str, forwarded: str | None, address: str
) -> None:
    environ = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(environ, ["127.0.0.1", "::1"]) == address


# Real servers


def limited(limits: dict[str, object], *args: str) -> Iterator[Server]:
    return run_server(*args, env={"DJWS_TEST_LIMITS": json.dumps(limits)})  # type: ignore[return-value]


def read_all(ws: Any) -> None:
    """Read until the connection closes (at most 10,000 messages)."""
    for _ in range(10_000):
        ws.recv(timeout=10)


def send_then_read(ws: Any, messages: list[str]) -> None:
    """Send ``messages`` (the server may close meanwhile), then read until it closes."""
    for message in messages:
        ws.send(message)
    read_all(ws)


def closed_with(ws: Any, code: int, reason: str) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        read_all(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)


def warnings_in(server: Server, limit: str) -> list[str]:
    return [line for line in server.log().splitlines() if f"WEBSOCKET_LIMITS[{limit!r}]" in line]


def test_a_client_over_the_message_rate_is_closed_with_1008_and_logged_once() -> None:
    with limited({"messages_per_second": 100, "message_burst": 100}) as server:
        with RawClient(server) as client:
            client.send(client_frame(0x1, b"x") * 100)  # the burst: fine
            assert client.recv_frame() == b"\x81\x01x"
            client.send(client_frame(0x1, b"x") * 500)  # then too many at once
            frames = [client.recv_frame()]
            while not frames[-1].startswith(b"\x88") and len(frames) < 1000:
                frames.append(client.recv_frame())
            assert frames[-1] == close_frame(1008, "too many messages: over 100 a second")
            assert set(frames[:-1]) == {b"\x81\x01x"}
            assert len(frames) <= 100
        with connect(f"{server.url}/echo/") as other:  # the same address, a new connection
            other.send(b"x" * 10)
            assert other.recv(timeout=10) == b"x" * 10
            with pytest.raises(ConnectionClosed) as closed:
                send_then_read(other, ["z"] * 300)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                1008,
                "too many messages: over 100 a second",
            )
        server.wait_for_log("crossed WEBSOCKET_LIMITS['messages_per_second']")
        time.sleep(0.2)
        (line,) = warnings_in(server, "messages_per_second")  # twice, logged once
        assert "Client 127.0.0.1 crossed" in line
        assert "too many messages: over 100 a second (logged once a minute per client)" in line
        assert_healthy(server)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_a_client_over_the_byte_rate_is_closed_with_1008(compression: str | None) -> None:
    """Compressed, a message costs what it inflates to: 150 kB of x, not 200 bytes."""
    with (
        limited({"bytes_per_second": 100_000, "byte_burst": 200_000}) as server,
        connect(f"{server.url}/echo/", compression=compression) as ws,
    ):
        ws.send(b"x" * 150_000)
        assert len(ws.recv(timeout=10)) == 150_000
        ws.send(b"x" * 150_000)
        closed_with(ws, 1008, "too many bytes: over 100000 a second")


def test_a_views_own_limits_replace_the_settings() -> None:
    with limited({"messages_per_second": None}) as server:
        with connect(f"{server.url}/limits/echo-five/") as ws:
            for n in range(5):
                ws.send(str(n))
            assert [ws.recv(timeout=10) for _ in range(5)] == ["0", "1", "2", "3", "4"]
            ws.send("5")
            closed_with(ws, 1008, "too many messages: over 5 a second")
        with connect(f"{server.url}/echo/") as ws:  # the setting: no limit
            for n in range(500):
                ws.send(str(n))
            assert [ws.recv(timeout=10) for _ in range(500)] == [str(n) for n in range(500)]


def join_many(ws: Any, numbers: range) -> None:
    """Ask to join a group for each number, then wait for the end."""
    for n in numbers:
        ws.send(f"group-{n}")
    read_all(ws)


def test_100001_joins_are_refused_at_the_cap_and_the_worker_keeps_its_memory() -> None:
    """One connection joined 100,000 client-named groups before (100 MB on the worker)."""
    with limited({"messages_per_second": None}) as server:
        pid = worker_pid(server)
        assert_healthy(server)
        before = rss_kib(pid)
        with connect(f"{server.url}/limits/joiner/") as ws:
            for n in range(1000):
                ws.send(f"group-{n}")
            ws.send("count")
            assert ws.recv(timeout=10) == "groups 1000"
            with pytest.raises(ConnectionClosed) as closed:
                join_many(ws, range(1000, 100_001))
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                1008,
                "too many groups: over 1000",
            )
        assert rss_kib(pid) - before < 8 * 1024
        server.wait_for_log("crossed WEBSOCKET_LIMITS['groups_per_connection']")
        assert_healthy(server)


def test_a_users_connections_over_the_limit_are_closed_after_the_101() -> None:
    with limited({"connections_per_user": 2}, "--http") as server:
        _, cookie, _ = http_get(server, "/login/limited/")
        headers = {"Cookie": cookie}
        with (
            connect(f"{server.url}/whoami/", additional_headers=headers) as first,
            connect(f"{server.url}/whoami/", additional_headers=headers) as second,
        ):
            assert first.recv(timeout=10) == second.recv(timeout=10) == "limited"
            with connect(f"{server.url}/whoami/", additional_headers=headers) as third:
                closed_with(third, 1008, "too many connections for this user: over 2")
            with connect(f"{server.url}/whoami/") as anonymous:  # not that user
                assert anonymous.recv(timeout=10) == "anonymous"
        with connect(f"{server.url}/whoami/", additional_headers=headers) as again:
            assert again.recv(timeout=10) == "limited"  # the first two are gone: counted out
            again.close()


def test_an_addresss_connections_over_the_limit_are_closed_after_the_101() -> None:
    with limited({"connections_per_address": 3}) as server, contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(connect(f"{server.url}/echo/"))
        with connect(f"{server.url}/echo/") as fourth:
            closed_with(fourth, 1008, "too many connections from this address: over 3")
        stack.close()
        with connect(f"{server.url}/echo/") as ws:
            ws.send("room again")
            assert ws.recv(timeout=10) == "room again"


def handshake(server: Server, request: bytes) -> bytes:
    """Send ``request``, return the response's head and body as far as it came at once."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
        if not reply.startswith(b"HTTP/1.1 101"):
            while chunk := sock.recv(65536):  # a refusal: the server closes after the body
                reply += chunk
        return reply


def test_handshakes_over_the_rate_get_429_with_retry_after_before_django_runs() -> None:
    with limited({"handshakes_per_second": 2, "handshake_burst": 5}) as server:
        request = upgrade_request(host=f"127.0.0.1:{server.port}")
        for _ in range(5):
            assert status_of(handshake(server, request)) == 101
        django_ran = server.log().count("signal request_started")
        reply = handshake(server, request)
        assert reply.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
        assert re.search(rb"\r\nRetry-After: 1\r\n", reply)
        assert reply.endswith(b"\r\n\r\nToo many handshakes from this address: over 2 a second.\n")
        assert server.log().count("signal request_started") == django_ran  # not for the 429
        forwarded = upgrade_request(host=f"127.0.0.1:{server.port}", X_Forwarded_For="192.0.2.9")
        assert status_of(handshake(server, forwarded)) == 101  # another client: its own bucket
        time.sleep(0.6)
        assert status_of(handshake(server, request)) == 101


# Mistakes


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        (
            '{"message_rate": 5}',
            "?: (djws.E006) WEBSOCKET_LIMITS: unknown limit 'message_rate'; the limits are "
            "messages_per_second, message_burst, bytes_per_second, byte_burst, "
            "groups_per_connection, connections_per_user, connections_per_address, "
            "handshakes_per_second, handshake_burst.\n",
        ),
        (
            '{"groups_per_connection": -1}',
            "?: (djws.E006) WEBSOCKET_LIMITS: limit 'groups_per_connection' must be a positive "
            "number or None, not -1.\n",
        ),
    ],
)
def test_a_bad_limit_is_a_check_error_at_startup(limits: str, error: str) -> None:
    result = manage("check", env={"DJWS_TEST_LIMITS": limits})
    assert result.returncode == 1
    assert error in result.stderr
    assert "\tHINT: A dict such as {'messages_per_second': 100}; see djws.limits.\n" in (
        result.stderr
    )
