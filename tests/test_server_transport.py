"""The transport's reads on gevent's loop: in order, without a read that must fail.

After a read that leaves the kernel's buffer empty, the next read waits for the
socket to be readable before reading; these tests check that nothing is lost or
delayed by it: bytes that came meanwhile are read at once, a timeout or a
``wake()`` still returns None, the end of the stream still reads as ``b""``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import gevent
import pytest
from gevent import socket

from djws.server.transport import RECV_SIZE, Transport

pytestmark = pytest.mark.fast


@pytest.fixture
def pair() -> Iterator[tuple[Transport, socket.socket]]:
    server, client = socket.socketpair()
    transport = Transport(server, write_limit=1 << 20)
    yield transport, client
    transport.abort()
    client.close()


def test_bytes_that_came_after_a_read_emptied_the_buffer_are_read_at_once(
    pair: tuple[Transport, socket.socket],
) -> None:
    transport, client = pair
    client.sendall(b"first")
    assert transport.recv(timeout=5) == b"first"
    client.sendall(b"second")
    started = time.monotonic()
    assert transport.recv(timeout=5) == b"second"
    assert time.monotonic() - started < 1


def test_a_read_waits_for_bytes_sent_later_and_times_out_without_them(
    pair: tuple[Transport, socket.socket],
) -> None:
    transport, client = pair
    client.sendall(b"x")
    assert transport.recv(timeout=5) == b"x"
    assert transport.recv(timeout=0.05) is None
    gevent.spawn_later(0.05, client.sendall, b"later")
    assert transport.recv(timeout=5) == b"later"


def test_wake_interrupts_a_waiting_read_and_the_next_read_gets_the_bytes(
    pair: tuple[Transport, socket.socket],
) -> None:
    transport, client = pair
    client.sendall(b"x")
    assert transport.recv(timeout=5) == b"x"
    gevent.spawn_later(0.05, transport.wake)
    assert transport.recv(timeout=5) is None
    client.sendall(b"y")
    assert transport.recv(timeout=5) == b"y"


def test_more_than_one_read_holds_arrives_whole_and_in_order(
    pair: tuple[Transport, socket.socket],
) -> None:
    transport, client = pair
    data = bytes(range(256)) * (3 * RECV_SIZE // 256 + 7)
    sender = gevent.spawn(client.sendall, data)
    received = b""
    while len(received) < len(data):
        chunk = transport.recv(timeout=5)
        assert chunk, f"stopped after {len(received)} of {len(data)} bytes"
        received += chunk
    sender.join(timeout=5)
    assert received == data


def test_the_end_of_the_stream_reads_as_empty_after_an_emptying_read(
    pair: tuple[Transport, socket.socket],
) -> None:
    transport, client = pair
    client.sendall(b"bye")
    assert transport.recv(timeout=5) == b"bye"
    client.close()
    assert transport.recv(timeout=5) == b""
