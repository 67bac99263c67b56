"""No connection holds its worker: a client that floods leaves the others served.

gevent switches greenlets only when one would block, and a view whose client
never stops sending never blocks. Without fair turns, one flooding client froze
every other connection of its worker for as long as it flooded (the others' echo
p99 29 s, a new handshake 5.4 s). Each test here floods a real worker, with no
limit configured, and checks that the others are served while the flood lasts --
in well under a second, where the frozen worker took as long as the flood.
The figures (p99 within 2x of the unflooded run) are measured by ``bench/``'s
flood scenario, side by side with gevent-websocket and Channels. The worker runs
with the per-connection rate limits off (``tests/test_limits.py`` has them on).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from .support import (
    RawClient,
    Server,
    assert_healthy,
    client_frame,
    close_frame,
    rss_kib,
    run_server,
    wait_for,
    worker_pid,
)

#: What "served while the flood lasts" means: the frozen worker took the whole flood.
PROMPTLY = 0.5
FLOOD_SECONDS = 20.0  # the longest a flood may last: the tests stop it much sooner


class Flood:
    """A raw client that writes ``frames`` without pause in a thread, reading what comes back."""

    def __init__(self, server: Server, path: str, frames: bytes, *, read: bool = True) -> None:
        self.client = RawClient(server, path)
        self.frames = frames
        self.read = read
        self.sent = self.received = 0
        self.head = b""  # the first bytes received
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, daemon=True)]
        if read:
            self._threads.append(threading.Thread(target=self._drain, daemon=True))

    def _write(self) -> None:
        deadline = time.monotonic() + FLOOD_SECONDS
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.client.sock.sendall(self.frames)
                self.sent += len(self.frames)
        except OSError as exc:
            self.error = exc

    def _drain(self) -> None:
        # The socket's timeout (10 s) is the writer's too: reads block, and the
        # shutdown in __exit__ ends them.
        deadline = time.monotonic() + FLOOD_SECONDS + 5
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                data = self.client.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if len(self.head) < 64:
                self.head += data[:64]
            self.received += len(data)

    def __enter__(self) -> Flood:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.client.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(10)
        self.client.sock.close()


def timed_echoes(server: Server, clients: int = 10, rounds: int = 5) -> list[float]:
    """Round trips of ``clients`` already-open connections, ``rounds`` each."""
    times = []
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(f"{server.url}/echo/")) for _ in range(clients)]
        for n in range(rounds):
            for ws in sockets:
                started = time.monotonic()
                ws.send(f"round {n}")
                assert ws.recv(timeout=FLOOD_SECONDS) == f"round {n}"
                times.append(time.monotonic() - started)
    return times


def timed_handshake(server: Server) -> float:
    started = time.monotonic()
    with connect(f"{server.url}/echo/", open_timeout=FLOOD_SECONDS):
        return time.monotonic() - started


@pytest.fixture(scope="module")
def worker() -> Iterator[Server]:
    no_rates = '{"messages_per_second": null, "bytes_per_second": null}'
    with run_server(env={"WEBSOCKET_CLOSE_TIMEOUT": "1", "DJWS_TEST_LIMITS": no_rates}) as server:
        assert_healthy(server)
        yield server


SMALL_FRAMES = client_frame(0x1, b"flood" * 2) * 4096  # 64 KiB of 16-byte text frames


def test_a_client_flooding_an_echo_view_leaves_the_others_served(worker: Server) -> None:
    with Flood(worker, "/echo/", SMALL_FRAMES) as flood:
        wait_for(lambda: flood.received > 1 << 20, 10, "a megabyte of echoes", interval=0.02)
        echoes = timed_echoes(worker)
        handshake = timed_handshake(worker)
        received = flood.received
        # And the flooder is served too.
        wait_for(lambda: flood.received > received, 10, "more echoes to the flooder", interval=0.02)
        assert flood.error is None
    assert max(echoes) < PROMPTLY, f"slowest echo {max(echoes):.3f} s"
    assert handshake < PROMPTLY, f"handshake {handshake:.3f} s"
    assert_healthy(worker)


def test_a_client_flooding_pings_leaves_the_others_served(worker: Server) -> None:
    with Flood(worker, "/echo/", client_frame(0x9, b"ping") * 6000) as flood:
        wait_for(lambda: flood.received > 1 << 20, 10, "a megabyte of pongs", interval=0.02)
        echoes = timed_echoes(worker)
        handshake = timed_handshake(worker)
    assert max(echoes) < PROMPTLY, f"slowest echo {max(echoes):.3f} s"
    assert handshake < PROMPTLY, f"handshake {handshake:.3f} s"


def test_a_client_that_pings_and_never_reads_is_closed_with_1008(worker: Server) -> None:
    """Its pongs would pile up in the worker: at 64 KiB of them it is failed, 1008."""
    pid = worker_pid(worker)
    before = rss_kib(pid)
    with Flood(worker, "/echo/", client_frame(0x9, b"p" * 125) * 500, read=False) as flood:
        wait_for(
            lambda: flood.error is not None, 10, "the server resetting the flood", interval=0.02
        )
        assert isinstance(flood.error, ConnectionResetError | BrokenPipeError)
    worker.wait_for_log("WebSocket closed 1008 (client too slow: send buffer full)")
    assert rss_kib(pid) - before < 4 * 1024
    assert_healthy(worker)


def test_a_client_flooding_after_the_server_closed_is_cut_at_the_close_timeout(
    worker: Server,
) -> None:
    """The view closed; the client never answers and keeps writing: TCP is cut after 1 s."""
    with Flood(worker, "/close/4000/?reason=flooded", SMALL_FRAMES) as flood:
        wait_for(lambda: flood.sent > 1 << 20, 10, "a megabyte of flood sent", interval=0.02)
        echoes = timed_echoes(worker, clients=5, rounds=2)
        started = time.monotonic()
        wait_for(lambda: flood.error is not None, 10, "TCP cut under the flood", interval=0.02)
    assert time.monotonic() - started < 1.5
    assert (flood.client.buffer + flood.head).startswith(close_frame(4000, "flooded"))
    assert isinstance(flood.error, ConnectionResetError | BrokenPipeError)
    assert max(echoes) < PROMPTLY, f"slowest echo {max(echoes):.3f} s"
    assert_healthy(worker)
