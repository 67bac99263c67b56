#!/usr/bin/env python3
"""The load client of the djws benchmarks: one process, standard library only.

It is written so that it is not the bottleneck: raw non-blocking sockets on one
``epoll`` object (no asyncio, no streams), client frames built once and masked in
advance, a fast path that recognises a whole echoed frame by one ``bytes``
comparison, and one clock read per ``epoll.poll()`` batch. It reports its own CPU
use (``cpu_client_percent``) and the server's (``cpu_server_percent``, from
``/proc``) over the measured window, so a reader can check that the server, not the
client, was saturated.

It only ever connects to 127.0.0.1. Every loop in it is bounded both in count and
in time: each phase has a deadline and every ``while`` checks it.

Usage (the orchestrator ``bench/run.py`` does this)::

    python bench/loadclient.py '{"scenario": "echo", "port": 8001, ...}'

The JSON result goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import gc
import hashlib
import heapq
import json
import math
import os
import random
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"  # the only address this client ever talks to
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = base64.b64encode(b"djws-bench-key!!").decode()
ACCEPT = base64.b64encode(hashlib.sha1((KEY + GUID).encode()).digest())
MASK = b"\x37\xfa\x21\x3d"

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERRHUP = select.EPOLLERR | select.EPOLLHUP

CONNECTING, HANDSHAKING, OPEN, CLOSING, CLOSED = range(5)

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA

perf = time.perf_counter


def log(message: str) -> None:
    """Write a progress line to stderr."""
    print(f"[client {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """Return one final, masked client frame carrying ``payload``."""
    n = len(payload)
    first = bytes((0x80 | opcode,))
    if n < 126:
        head = first + bytes((0x80 | n,))
    elif n < 65536:
        head = first + struct.pack("!BH", 0x80 | 126, n)
    else:
        head = first + struct.pack("!BQ", 0x80 | 127, n)
    if not n:
        return head + MASK
    key = (MASK * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + MASK + masked


def server_frame(opcode: int, payload: bytes) -> bytes:
    """Return the unmasked frame a server sends for a small ``payload``."""
    assert len(payload) < 126
    return bytes((0x80 | opcode, len(payload))) + payload


CLOSE_FRAME = mask_frame(OP_CLOSE, struct.pack("!H", 1000))


def close_code_in(tail: bytes) -> int | None:
    """The code of the last server close frame in ``tail`` (the end of a stream), if any."""
    at = tail.rfind(b"\x88")
    if at < 0 or len(tail) < at + 4 or tail[at + 1] < 2:
        return None
    return int.from_bytes(tail[at + 2 : at + 4], "big")


def percentile(values: list[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    """Summarise latencies given in seconds as milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 3)

    return {
        "p50_ms": ms(percentile(seconds, 0.50)),
        "p99_ms": ms(percentile(seconds, 0.99)),
        "max_ms": ms(max(seconds) if seconds else None),
        "samples": len(seconds),
    }


# -- the server's processes, read from /proc -------------------------------------------


def process_tree(root: int) -> list[int]:
    """Return ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo and len(found) < 10_000:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_rss_kib(root: int) -> dict[str, Any]:
    """Sum VmRSS (KiB) over the process tree under ``root``; list each process too."""
    per_process: dict[int, int] = {}
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        per_process[pid] = int(line.split()[1])
                        break
        except OSError:
            continue
    return {"total_kib": sum(per_process.values()), "per_process_kib": per_process}


def tree_cpu_seconds(root: int) -> float:
    """Return user + system CPU seconds used so far by the process tree under ``root``.

    Children that exited and were reaped count too (through their parent's
    ``cutime``/``cstime``): the storm scenario replaces the server's workers.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / ticks


def machine_busy_seconds() -> float:
    """Return the CPU seconds all cores have spent busy (not idle, not iowait) so far."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """Return this process's user + system CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Measure the CPU share of this client and of the server over a window."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start_wall = perf()
        self.start_own = own_cpu_seconds()
        self.start_server = tree_cpu_seconds(server_pid) if server_pid else 0.0
        self.start_busy = machine_busy_seconds()

    def result(self) -> dict[str, float | None]:
        """Return CPU shares in percent of one core since construction.

        ``cpu_other_percent`` is what the whole machine was busy beyond this client
        and the server: other processes, and kernel work not charged to either
        (such as network soft interrupts). A high value means a noisy machine.
        """
        wall = max(perf() - self.start_wall, 1e-9)
        own = own_cpu_seconds() - self.start_own
        server = tree_cpu_seconds(self.server_pid) - self.start_server if self.server_pid else None
        busy = machine_busy_seconds() - self.start_busy
        other = busy - own - (server or 0.0)
        return {
            "cpu_client_percent": round(100.0 * own / wall, 1),
            "cpu_server_percent": None if server is None else round(100.0 * server / wall, 1),
            "cpu_other_percent": round(max(0.0, 100.0 * other / wall), 1),
        }


# -- connections and the event loop ----------------------------------------------------


class Conn:
    """One client WebSocket connection and its per-scenario bookkeeping."""

    __slots__ = (
        "closed_reason",
        "discard",
        "expect",
        "extra",
        "fast",
        "fd",
        "frag",
        "index",
        "messages",
        "path",
        "rbuf",
        "request",
        "sent_at",
        "sock",
        "started",
        "state",
        "state_since",
        "wbuf",
    )

    def __init__(self, sock: socket.socket, index: int, path: str, request: bytes) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.index = index
        self.path = path
        self.request = request
        self.state = CONNECTING
        self.started = perf()
        self.state_since = self.started
        self.rbuf = b""
        self.wbuf = b""
        self.frag: bytes | None = None
        self.fast: bytes | None = None  # a whole expected frame: the echo fast path
        self.discard = False  # count what arrives, keep its tail, parse nothing (the flooder)
        self.sent_at = 0.0
        self.messages = 0
        self.expect: Any = None
        self.extra: Any = None
        self.closed_reason: str | None = None


class Handler:
    """Scenario callbacks; the defaults do nothing."""

    def on_open(self, conn: Conn, now: float) -> None:
        """The server answered 101."""

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        """A whole text or binary message arrived."""

    def on_fast(self, conn: Conn, now: float) -> None:
        """Exactly ``conn.fast`` arrived in one read (the echo fast path)."""
        self.on_message(conn, b"", now)

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        """The connection is gone; ``error`` is None for a clean close."""


class Engine:
    """A minimal epoll loop that opens WebSockets to 127.0.0.1 and drives a Handler."""

    def __init__(self, port: int, handler: Handler, cookie: str | None = None) -> None:
        self.port = port
        self.handler = handler
        self.cookie = cookie
        self.epoll = select.epoll()
        self.conns: dict[int, Conn] = {}
        self.counter = 0
        self.errors: dict[str, int] = {}
        self.pings = 0
        self.handshake_timeout = 60.0
        self.close_timeout = 5.0
        self._next_sweep = perf() + 0.5

    # -- opening

    def request_bytes(self, path: str) -> bytes:
        """Build the HTTP upgrade request for ``path``."""
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {HOST}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {KEY}",
            "Sec-WebSocket-Version: 13",
            f"Origin: http://{HOST}:{self.port}",
            "User-Agent: djws-bench",
        ]
        if self.cookie:
            lines.append(f"Cookie: sessionid={self.cookie}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def open(self, path: str, request: bytes | None = None) -> Conn | None:
        """Start connecting to ``path``; returns None when the socket could not be made."""
        self.counter += 1
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            self.count_error(f"socket: {exc.strerror}")
            return None
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock, self.counter, path, request or self.request_bytes(path))
        code = sock.connect_ex((HOST, self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.count_error(f"connect: {errno.errorcode.get(code, code)}")
            return None
        self.conns[conn.fd] = conn
        self.epoll.register(conn.fd, EPOLLOUT)
        return conn

    def count_error(self, what: str) -> None:
        """Count one failure by kind."""
        self.errors[what] = self.errors.get(what, 0) + 1

    # -- sending

    def send(self, conn: Conn, frame: bytes) -> None:
        """Send ``frame`` now, or queue what the socket did not take."""
        if conn.wbuf:
            conn.wbuf += frame
            return
        try:
            sent = conn.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.fail(conn, f"send: {exc.strerror}", perf())
            return
        if sent < len(frame):
            conn.wbuf = frame[sent:]
            self.epoll.modify(conn.fd, EPOLLIN | EPOLLOUT)

    def _flush(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.wbuf)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(conn, f"send: {exc.strerror}", perf())
            return
        conn.wbuf = conn.wbuf[sent:]
        if not conn.wbuf:
            self.epoll.modify(conn.fd, EPOLLIN)

    # -- closing

    def close(self, conn: Conn, wait: bool = True) -> None:
        """Send a close frame; wait for the server's (bounded) or drop the socket now."""
        if conn.state >= CLOSING:
            return
        if conn.state == OPEN:
            self.send(conn, CLOSE_FRAME)
        if wait and conn.state == OPEN and conn.fd in self.conns:
            conn.state = CLOSING
            conn.state_since = perf()
        else:
            self._finish(conn, None, perf())

    def _finish(self, conn: Conn, error: str | None, now: float) -> None:
        if conn.state == CLOSED:
            return
        conn.state = CLOSED
        conn.closed_reason = error
        self.conns.pop(conn.fd, None)
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(conn.fd)
        conn.sock.close()
        if error:
            self.count_error(error)
        self.handler.on_closed(conn, now, error)

    def fail(self, conn: Conn, error: str, now: float) -> None:
        """Drop ``conn`` and record why."""
        self._finish(conn, error, now)

    # -- the loop

    def poll(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds once and process what is ready."""
        events = self.epoll.poll(max(timeout, 0.0), len(self.conns) + 16)
        now = perf()
        conns = self.conns
        handler = self.handler
        for fd, mask in events:
            conn = conns.get(fd)
            if conn is None:
                continue
            state = conn.state
            if state >= OPEN:
                if mask & EPOLLOUT and conn.wbuf:
                    self._flush(conn)
                    if conn.state == CLOSED:
                        continue
                if mask & (EPOLLIN | EPOLLERRHUP):
                    try:
                        data = conn.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        if conn.state == CLOSING:
                            self._finish(conn, None, now)
                        else:
                            self.fail(conn, f"recv: {exc.strerror}", now)
                        continue
                    if not data:
                        if conn.state == CLOSING:
                            self._finish(conn, None, now)
                        elif conn.discard and (code := close_code_in(conn.rbuf)):
                            self.fail(conn, f"server closed: {code}", now)
                        else:
                            self.fail(conn, "eof without close frame", now)
                        continue
                    if conn.discard:
                        conn.messages += len(data)
                        conn.rbuf = (conn.rbuf + data)[-256:]
                        continue
                    if conn.rbuf:
                        self._frames(conn, data, now)
                    elif data == conn.fast:
                        handler.on_fast(conn, now)
                    elif data[0] == 0x81 and data[1] == len(data) - 2:
                        # One whole short text frame: the common case, parsed inline.
                        handler.on_message(conn, data[2:], now)
                    else:
                        self._frames(conn, data, now)
            elif state == CONNECTING:
                self._connected(conn, now)
            else:
                self._handshake(conn, now)
        if now >= self._next_sweep:
            self._sweep(now)
        return len(events)

    def _connected(self, conn: Conn, now: float) -> None:
        error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self.fail(conn, f"connect: {errno.errorcode.get(error, error)}", now)
            return
        try:
            conn.sock.getpeername()
        except OSError:
            return  # a stale event for a reused descriptor: still connecting
        conn.state = HANDSHAKING
        conn.state_since = now
        self.epoll.modify(conn.fd, EPOLLIN)
        self.send(conn, conn.request)

    def _handshake(self, conn: Conn, now: float) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(conn, f"handshake recv: {exc.strerror}", now)
            return
        if not data:
            self.fail(conn, "handshake: eof", now)
            return
        buf = conn.rbuf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            conn.rbuf = buf
            if len(buf) > 65536:
                self.fail(conn, "handshake: response too long", now)
            return
        head = buf[:end]
        if not head.startswith(b"HTTP/1.1 101"):
            status = head.split(b"\r\n", 1)[0].decode("latin-1")[:40]
            self.fail(conn, f"handshake: {status}", now)
            return
        if ACCEPT not in head:
            self.fail(conn, "handshake: bad Sec-WebSocket-Accept", now)
            return
        conn.rbuf = b""
        conn.state = OPEN
        conn.state_since = now
        self.handler.on_open(conn, now)
        rest = buf[end + 4 :]
        if rest and conn.state == OPEN:
            self._frames(conn, rest, now)

    def _frames(self, conn: Conn, data: bytes, now: float) -> None:
        buf = conn.rbuf + data if conn.rbuf else data
        pos = 0
        size = len(buf)
        handler = self.handler
        while size - pos >= 2 and conn.state != CLOSED:
            first = buf[pos]
            second = buf[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[start : start + 8], "big")
                start += 8
            if second & 0x80:
                self.fail(conn, "protocol: masked server frame", now)
                return
            end = start + length
            if end > size:
                break
            payload = buf[start:end]
            pos = end
            opcode = first & 0x0F
            fin = first & 0x80
            if opcode in (OP_TEXT, OP_BINARY):
                if fin:
                    handler.on_message(conn, payload, now)
                else:
                    conn.frag = payload
            elif opcode == 0:
                conn.frag = (conn.frag or b"") + payload
                if fin:
                    whole, conn.frag = conn.frag, None
                    handler.on_message(conn, whole, now)
            elif opcode == OP_PING:
                self.pings += 1
                self.send(conn, mask_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                if conn.state == OPEN:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    self.send(conn, CLOSE_FRAME)
                    self.fail(conn, f"server closed: {code}", now)
                else:
                    self._finish(conn, None, now)
                return
        conn.rbuf = buf[pos:] if pos < size else b""

    def _sweep(self, now: float) -> None:
        """Fail connections stuck in a handshake or a close for too long."""
        self._next_sweep = now + 0.5
        for conn in list(self.conns.values()):
            if conn.state < OPEN and now - conn.state_since > self.handshake_timeout:
                self.fail(conn, "handshake: timeout", now)
            elif conn.state == CLOSING and now - conn.state_since > self.close_timeout:
                self._finish(conn, None, now)

    def run(self, until: Callable[[], bool], deadline: float, tick: float = 0.05) -> bool:
        """Poll until ``until()`` is true or ``deadline``; returns ``until()``."""
        for _ in range(100_000_000):
            if until():
                return True
            now = perf()
            if now >= deadline:
                break
            self.poll(min(tick, deadline - now))
        return until()

    def open_many(
        self,
        path: str,
        count: int,
        concurrency: int,
        deadline: float,
        is_ready: Callable[[Conn], bool],
    ) -> list[Conn]:
        """Open ``count`` connections, ``concurrency`` in flight, until each is ready.

        ``is_ready(conn)`` tells when an opened connection has done its setup (for
        example, received its first message). Returns the ready connections.
        """
        request = self.request_bytes(path)
        started: list[Conn] = []
        pending: list[Conn] = []
        for _ in range(count * 20 + 100_000):
            pending = [c for c in pending if c.state != CLOSED and not is_ready(c)]
            while len(pending) < concurrency and len(started) < count:
                conn = self.open(path, request)
                if conn is None:
                    break
                started.append(conn)
                pending.append(conn)
            if (len(started) >= count and not pending) or perf() >= deadline:
                break
            self.poll(min(0.05, max(0.0, deadline - perf())))
        return [c for c in started if c.state != CLOSED and is_ready(c)]


# -- scenarios ------------------------------------------------------------------------


class EchoHandler(Handler):
    """Closed loop: each connection has one message in flight at a time."""

    def __init__(self, engine_ref: list[Engine], payload: bytes) -> None:
        self.engine_ref = engine_ref
        self.frame = mask_frame(OP_TEXT, payload)
        self.reply = server_frame(OP_TEXT, payload)
        self.payload = payload
        self.measure_from = float("inf")
        self.stop_at = float("inf")
        self.latencies: list[float] = []
        self.count = 0
        self.mismatches = 0
        self.in_flight = 0

    def on_open(self, conn: Conn, now: float) -> None:
        conn.fast = self.reply

    def start(self, conn: Conn) -> None:
        """Send the first message on ``conn``."""
        self.in_flight += 1
        conn.extra = True
        conn.sent_at = perf()
        self.engine_ref[0].send(conn, self.frame)

    def on_fast(self, conn: Conn, now: float) -> None:
        self.in_flight -= 1
        conn.extra = False
        if self.measure_from <= now < self.stop_at:
            self.latencies.append(now - conn.sent_at)
            self.count += 1
        if now < self.stop_at:
            self.in_flight += 1
            conn.extra = True
            conn.sent_at = perf()
            self.engine_ref[0].send(conn, self.frame)

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        if payload != self.payload:
            self.mismatches += 1
        self.on_fast(conn, now)

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        if conn.extra:
            conn.extra = False
            self.in_flight -= 1


def scenario_echo(cfg: dict[str, Any]) -> dict[str, Any]:
    """N connections in closed loop sending a fixed text message: msgs/s and latency."""
    ref: list[Engine] = []
    payload = (b"djws-bench-echo-" * 8)[: cfg.get("size", 64)]
    handler = EchoHandler(ref, payload)
    engine = Engine(cfg["port"], handler)
    ref.append(engine)
    n = cfg.get("connections", 100)
    conns = engine.open_many(cfg["path"], n, n, perf() + 60.0, lambda c: c.state == OPEN)
    log(f"echo: {len(conns)}/{n} connections open on {cfg['path']}")
    if not conns:
        return {"ok": False, "error": "no connection opened", "errors": engine.errors}
    warmup, duration = cfg.get("warmup", 2.0), cfg.get("duration", 10.0)
    start = perf()
    handler.measure_from = start + warmup
    handler.stop_at = start + warmup + duration
    for conn in conns:
        handler.start(conn)
    engine.run(lambda: perf() >= handler.measure_from, handler.measure_from + 1.0)
    meter = CpuMeter(cfg.get("server_pid"))
    engine.run(lambda: perf() >= handler.stop_at, handler.stop_at + 1.0)
    cpu = meter.result()
    engine.run(lambda: handler.in_flight <= 0, perf() + 5.0)
    unanswered = handler.in_flight
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return {
        "ok": True,
        "connections": len(conns),
        "messages": handler.count,
        "duration_s": duration,
        "msgs_per_s": round(handler.count / duration, 1),
        **latency_summary(handler.latencies),
        "mismatches": handler.mismatches,
        "unanswered_at_end": unanswered,
        "errors": engine.errors,
        **cpu,
    }


class FloodHandler(Handler):
    """The flood scenario's well-behaved clients: one echo at a time, each on its schedule."""

    def __init__(self, frame: bytes, reply: bytes) -> None:
        self.frame = frame
        self.reply = reply
        self.phase = "quiet"  # "quiet", then "flood"
        self.latencies: dict[str, list[float]] = {"quiet": [], "flood": []}
        self.handshakes: dict[str, list[float]] = {"quiet": [], "flood": []}
        self.mismatches = 0
        self.late = 0  # a message still unanswered when its next one was due

    def on_open(self, conn: Conn, now: float) -> None:
        conn.fast = self.reply
        if conn.expect:  # a new handshake, timed in the phase it started in, then closed
            self.handshakes[conn.expect].append(now - conn.started)
            conn.expect = "done"

    def on_fast(self, conn: Conn, now: float) -> None:
        if conn.extra is not None:  # (phase, sent at): timed however late the echo comes
            phase, sent_at = conn.extra
            self.latencies[phase].append(now - sent_at)
            conn.extra = None

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        if conn.discard:
            return
        if payload != self.reply[2:]:
            self.mismatches += 1
        self.on_fast(conn, now)


def scenario_flood(cfg: dict[str, Any]) -> dict[str, Any]:
    """One client floods an echo endpoint; the others' echo latency and new handshakes.

    ``others`` clients each send one small message ``rate`` times a second (staggered)
    and time its echo; a new connection is opened every ``probe_interval`` seconds and
    timed to its 101. First ``duration`` seconds without the flood, then as long with
    one more client that writes small frames as fast as the server takes them and
    reads (and discards) the echoes.
    """
    payload = b"djws-flood-check"
    handler = FloodHandler(mask_frame(OP_TEXT, payload), server_frame(OP_TEXT, payload))
    engine = Engine(cfg["port"], handler)
    path = cfg["path"]
    n = cfg.get("others", 50)
    rate = cfg.get("rate", 2.0)
    duration = cfg.get("duration", 10.0)
    probe_interval = cfg.get("probe_interval", 0.2)
    conns = engine.open_many(path, n, n, perf() + 60.0, lambda c: c.state == OPEN)
    log(f"flood: {len(conns)}/{n} clients open on {path}")
    if len(conns) < n:
        error = f"{len(conns)} of {n} clients opened"
        return {"ok": False, "error": error, "errors": engine.errors}
    flood_payload = b"flood" * 2
    block = mask_frame(OP_TEXT, flood_payload) * 4096  # 64 KiB of 16-byte frames
    flooder: Conn | None = None
    sent_blocks = 0
    due = {conn.fd: perf() + i / (n * rate) for i, conn in enumerate(conns)}
    period = 1.0 / rate

    def tick(now: float) -> None:
        nonlocal sent_blocks
        for conn in conns:
            if conn.state == OPEN and now >= due[conn.fd]:
                if conn.extra is not None:
                    handler.late += 1  # still waiting: the wait is measured when it ends
                else:
                    conn.extra = (handler.phase, now)
                    engine.send(conn, handler.frame)
                due[conn.fd] += period
        if flooder is not None and flooder.state == OPEN and not flooder.wbuf:
            engine.send(flooder, block)
            sent_blocks += 1

    def phase(name: str) -> dict[str, Any]:
        handler.phase = name
        end = perf() + duration
        next_probe = perf()
        meter = CpuMeter(cfg.get("server_pid"))
        for _ in range(100_000_000):
            now = perf()
            if now >= end:
                break
            if now >= next_probe:
                probe = engine.open(path)
                if probe is not None:
                    probe.expect = name
                next_probe = now + probe_interval
            tick(now)
            engine.poll(0.0005 if flooder is not None else 0.001)
            for conn in list(engine.conns.values()):
                if conn.expect == "done":
                    conn.expect = None
                    engine.close(conn, wait=False)
        cpu = meter.result()
        if flooder is not None:
            engine.close(flooder, wait=False)
        # What was sent (or opened) in this phase and is still unanswered is timed to
        # its answer, however late: a frozen server shows as seconds, not as no sample.
        engine.run(
            lambda: (
                all(c.extra is None for c in conns)
                and not any(c.expect == name for c in engine.conns.values())
            ),
            perf() + 60.0,
        )
        latencies = handler.latencies[name]
        handshakes = latency_summary(handler.handshakes[name])
        return {
            **{f"{name}_{k}": v for k, v in latency_summary(latencies).items()},
            f"{name}_handshake_p50_ms": handshakes["p50_ms"],
            f"{name}_handshake_p99_ms": handshakes["p99_ms"],
            f"{name}_handshake_max_ms": handshakes["max_ms"],
            f"{name}_handshakes": handshakes["samples"],
            f"{name}_cpu_server_percent": cpu["cpu_server_percent"],
        }

    result: dict[str, Any] = {"ok": True, "others": n, "rate_per_client": rate}
    result.update(phase("quiet"))
    flooder = engine.open(path)
    if flooder is None or not engine.run(lambda: flooder.state >= OPEN, perf() + 30.0):
        return {**result, "ok": False, "error": "the flooder did not open", "errors": engine.errors}
    flooder.discard = True
    handler.phase = "flood"
    result.update(phase("flood"))
    echoed = flooder.messages // len(server_frame(OP_TEXT, flood_payload))
    result.update(
        {
            "flood_sent_per_s": round(sent_blocks * 4096 / duration),
            "flood_echoed_per_s": round(echoed / duration),
            "flooder_closed": flooder.closed_reason if flooder.state == CLOSED else None,
            "late": handler.late,
            "mismatches": handler.mismatches,
            "errors": engine.errors,
        }
    )
    quiet, flood = result.get("quiet_p99_ms"), result.get("flood_p99_ms")
    result["p99_flood_over_quiet"] = round(flood / quiet, 2) if quiet and flood else None
    result["ok"] = bool(result["quiet_samples"]) and not handler.mismatches
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return result


class WhoamiHandler(Handler):
    """The first message after the handshake names the logged-in user."""

    def __init__(self, expected: str | None, greeting: bool = True) -> None:
        self.expected = expected.encode() if expected else None
        self.greeting = greeting  # False: the endpoint sends nothing first (plain echo)
        self.auth_ok = 0
        self.auth_bad: dict[str, int] = {}
        self.answered = 0
        self.on_ready: Callable[[Conn, float], None] | None = None
        self.on_gone: Callable[[Conn, float, str | None], None] | None = None

    def on_open(self, conn: Conn, now: float) -> None:
        if not self.greeting:
            conn.messages = 1
            conn.sent_at = now
            if self.on_ready:
                self.on_ready(conn, now)

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        conn.messages += 1
        if conn.messages == 1:
            if self.expected is None or payload == self.expected:
                self.auth_ok += 1
            else:
                key = payload[:40].decode("utf-8", "replace")
                self.auth_bad[key] = self.auth_bad.get(key, 0) + 1
            conn.sent_at = now  # handshake completion time
            if self.on_ready:
                self.on_ready(conn, now)
        elif payload == conn.expect:
            self.answered += 1
            conn.expect = None

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        if self.on_gone:
            self.on_gone(conn, now, error)


def scenario_idle(cfg: dict[str, Any]) -> dict[str, Any]:
    """Open N logged-in connections to one worker, hold them, measure RSS, ping all."""
    handler = WhoamiHandler(cfg.get("expect_user"), greeting=cfg.get("greeting", True))
    engine = Engine(cfg["port"], handler, cookie=cfg.get("cookie"))
    engine.handshake_timeout = cfg.get("handshake_timeout", 60.0)
    pid = cfg.get("server_pid")
    n = cfg["connections"]
    settle = cfg.get("settle", 2.0)
    before = tree_rss_kib(pid) if pid else None
    meter = CpuMeter(pid)
    start = perf()
    conns = engine.open_many(
        cfg["path"],
        n,
        cfg.get("concurrency", 50),
        start + cfg.get("open_timeout", 300.0),
        lambda c: c.messages >= 1,
    )
    last = max((c.sent_at for c in conns), default=perf())
    elapsed = max(last - start, 1e-9)
    cpu = meter.result()
    log(f"idle: {len(conns)}/{n} open in {elapsed:.1f}s, errors={engine.errors}")
    engine.run(lambda: False, perf() + settle)
    after = tree_rss_kib(pid) if pid else None
    alive_before_round = sum(1 for c in conns if c.state == OPEN)
    # The end: every socket must still answer a message.
    for conn in conns:
        if conn.state == OPEN:
            payload = f"still-there-{conn.index}".encode()
            conn.expect = payload
            engine.send(conn, mask_frame(OP_TEXT, payload))
    answer_deadline = perf() + cfg.get("answer_timeout", 30.0)
    engine.run(lambda: handler.answered >= alive_before_round, answer_deadline)
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    result: dict[str, Any] = {
        "ok": bool(conns),
        "requested": n,
        "opened": len(conns),
        "open_s": round(elapsed, 3),
        "handshakes_per_s": round(len(conns) / elapsed, 1),
        "auth_ok": handler.auth_ok,
        "auth_bad": handler.auth_bad,
        "alive_at_end": alive_before_round,
        "answered_at_end": handler.answered,
        "server_pings_answered": engine.pings,
        "errors": engine.errors,
        **cpu,
    }
    if before and after:
        grown = after["total_kib"] - before["total_kib"]
        result.update(
            rss_before_kib=before["total_kib"],
            rss_after_kib=after["total_kib"],
            rss_per_process_kib={str(k): v for k, v in after["per_process_kib"].items()},
            rss_per_conn_kib=round(grown / max(len(conns), 1), 2),
        )
    return result


def scenario_handshake(cfg: dict[str, Any]) -> dict[str, Any]:
    """Connection churn: open, wait for the user's name, close cleanly, repeat."""
    handler = WhoamiHandler(cfg.get("expect_user"))
    engine = Engine(cfg["port"], handler, cookie=cfg.get("cookie"))
    engine.handshake_timeout = 15.0
    path = cfg["path"]
    request = engine.request_bytes(path)
    warmup, duration = cfg.get("warmup", 2.0), cfg.get("duration", 10.0)
    concurrency = cfg.get("concurrency", 50)
    start = perf()
    measure_from, stop_at = start + warmup, start + warmup + duration
    latencies: list[float] = []
    counts = {"done": 0, "failed": 0, "attempts": 0}
    attempt_cap = 5_000_000

    def launch() -> None:
        if perf() < stop_at and counts["attempts"] < attempt_cap:
            counts["attempts"] += 1
            if engine.open(path, request) is None:
                counts["failed"] += 1

    def ready(conn: Conn, now: float) -> None:
        if measure_from <= now < stop_at:
            counts["done"] += 1
            latencies.append(now - conn.started)
        engine.close(conn, wait=True)

    def gone(conn: Conn, now: float, error: str | None) -> None:
        if error and measure_from <= now < stop_at:
            counts["failed"] += 1
        launch()

    handler.on_ready = ready
    handler.on_gone = gone
    for _ in range(concurrency):
        launch()
    engine.run(lambda: perf() >= measure_from, measure_from + 1.0)
    auth_ok_start = handler.auth_ok
    meter = CpuMeter(cfg.get("server_pid"))
    engine.run(lambda: perf() >= stop_at, stop_at + 1.0)
    cpu = meter.result()
    auth_ok = handler.auth_ok - auth_ok_start
    engine.run(lambda: not engine.conns, perf() + 10.0)
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return {
        "ok": counts["done"] > 0,
        "concurrency": concurrency,
        "handshakes": counts["done"],
        "duration_s": duration,
        "handshakes_per_s": round(counts["done"] / duration, 1),
        "auth_ok": auth_ok,
        "auth_bad": handler.auth_bad,
        "failed": counts["failed"],
        **latency_summary(latencies),
        "errors": engine.errors,
        **cpu,
    }


class BroadcastHandler(Handler):
    """Subscribers: the first message is "ready", then the published messages.

    Every published payload is unique and remembered with its sequence number and
    send time (``self.published``), so a delivery costs one dictionary look-up.
    """

    def __init__(self) -> None:
        self.ready = 0
        self.received = 0
        self.latencies: list[float] = []
        self.published: dict[bytes, tuple[int, float]] = {}
        self.duplicates = 0
        self.out_of_order = 0
        self.bad = 0

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        info = self.published.get(payload)
        if info is None:
            conn.messages += 1
            if conn.messages == 1 and payload == b"ready":
                self.ready += 1
                conn.expect = -1
            else:
                self.bad += 1
            return
        seq, stamp = info
        if seq <= conn.expect:
            if seq == conn.expect:
                self.duplicates += 1
                return
            self.out_of_order += 1
        else:
            conn.expect = seq
        self.received += 1
        self.latencies.append(now - stamp)


def scenario_broadcast(cfg: dict[str, Any]) -> dict[str, Any]:
    """S subscribers, a publisher at R messages/s: fan-out latency and lost deliveries.

    The publisher is a control WebSocket (``/control``) on the same server: each
    message sent on it is published by the server to the group every subscriber
    joined. Each payload is unique (it starts with its sequence number); the client
    notes the monotonic time just before sending it, and a delivery's latency is
    the time of the ``epoll`` wake-up that found it minus that stamp.
    """
    handler = BroadcastHandler()
    engine = Engine(cfg["port"], handler)
    n = cfg["subscribers"]
    start = perf()
    subs = engine.open_many(
        cfg["path"],
        n,
        cfg.get("concurrency", 50),
        start + cfg.get("open_timeout", 300.0),
        lambda c: c.messages >= 1,
    )
    open_s = perf() - start
    log(f"broadcast: {len(subs)}/{n} subscribed in {open_s:.1f}s, errors={engine.errors}")
    control_ref: list[Conn] = []
    control = engine.open(cfg.get("control_path", "/control"))
    if control is not None:
        control_ref.append(control)
    engine.run(lambda: bool(control_ref) and control_ref[0].state == OPEN, perf() + 10.0)
    if not subs or control is None or control.state != OPEN:
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
        return {
            "ok": False,
            "error": "could not subscribe",
            "subscribed": len(subs),
            "errors": engine.errors,
        }
    engine.run(lambda: False, perf() + 0.5)  # let the joins settle
    rate, duration = cfg.get("rate", 10.0), cfg.get("duration", 10.0)
    total = int(rate * duration)
    interval = 1.0 / rate
    meter = CpuMeter(cfg.get("server_pid"))
    t0 = perf()
    for seq in range(total):
        due = t0 + seq * interval
        engine.run(lambda due=due: perf() >= due, due + 1.0, tick=0.02)
        text = f"{seq} ".encode()
        text += b"x" * max(0, cfg.get("size", 64) - len(text))
        frame = mask_frame(OP_TEXT, text)
        stamp = perf()
        handler.published[text] = (seq, stamp)
        engine.send(control, frame)
    expected = total * len(subs)
    last_publish = perf()
    engine.run(lambda: handler.received >= expected, last_publish + interval + 0.5)
    cpu = meter.result()
    engine.run(lambda: handler.received >= expected, last_publish + cfg.get("drain", 30.0))
    drain_s = perf() - last_publish
    still_open = sum(1 for c in subs if c.state == OPEN)
    for conn in list(engine.conns.values()):
        engine.close(conn, wait=False)
    return {
        "ok": True,
        "subscribers": len(subs),
        "subscribe_s": round(open_s, 3),
        "published": total,
        "rate_per_s": rate,
        "expected_deliveries": expected,
        "delivered": handler.received,
        "lost": expected - handler.received,
        "duplicates": handler.duplicates,
        "out_of_order": handler.out_of_order,
        "bad_payloads": handler.bad,
        "drain_s": round(drain_s, 3),
        "subscribers_open_at_end": still_open,
        **latency_summary(handler.latencies),
        "errors": engine.errors,
        **cpu,
    }


# -- the reconnect storm ----------------------------------------------------------------

#: djws.js's reconnection options (``DEFAULTS`` in djws/static/djws/djws.js), in seconds.
BACKOFF = {"min_delay": 0.5, "max_delay": 30.0, "factor": 2.0, "jitter": 0.5, "stable_after": 5.0}


def backoff(attempt: int, rng: random.Random) -> float:
    """djws.js's ``backoff()``: ``min(maxDelay, minDelay * factor ** attempt)``, less a
    random part of up to ``jitter`` of it."""
    base = min(BACKOFF["max_delay"], BACKOFF["min_delay"] * BACKOFF["factor"] ** attempt)
    return base * (1 - BACKOFF["jitter"] * rng.random())


def listen_drops() -> dict[str, int]:
    """The kernel's counters of connections refused by a full listen queue (whole machine)."""
    wanted = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPReqQFullDrop")
    try:
        with open("/proc/net/netstat") as handle:
            lines = [line.split() for line in handle if line.startswith("TcpExt:")]
        names, values = lines[0], lines[1]
        return {k: int(v) for k, v in zip(names, values, strict=True) if k in wanted}
    except (OSError, IndexError, ValueError):
        return {}


class Page:
    """One browser page running djws.js: its group, the last position it saw, and its
    reconnection state (``attempts``; ``opened_at``, djws.js's ``_openedAt``)."""

    __slots__ = (
        "attempts",
        "back_at",
        "conn",
        "epoch",
        "group",
        "index",
        "joined",
        "offset",
        "opened_at",
    )

    def __init__(self, index: int, group: str) -> None:
        self.index = index
        self.group = group
        self.conn: Conn | None = None
        self.epoch: str | None = None
        self.offset = 0
        self.attempts = 0
        self.opened_at: float | None = None
        self.joined = False
        self.back_at: float | None = None


class StormHandler(Handler):
    """Pages that follow djws.js: positions from the envelopes, resume with
    ``djws-since``, reconnect with djws.js's backoff after every close."""

    def __init__(self, pages: list[Page], path: str, policy: str, seed: int) -> None:
        self.pages = pages
        self.path = path
        self.policy = policy  # "djws.js" as shipped, or "spread-5s" (README)
        self.rng = random.Random(seed)
        self.engine: Engine | None = None
        self.schedule: list[tuple[float, int]] = []
        self.dropped_at = float("inf")
        self.stopping = False
        self.joined = 0
        self.back = 0
        self.last_close = 0.0
        self.closes_after_drop = 0
        self.attempts_after_drop = 0
        self.delivered = 0
        self.gaps = 0
        self.duplicates = 0
        self.not_recovered = 0
        self.resets = 0
        self.bad = 0
        #: After the restart: seconds from connect() to the joined envelope, per resume.
        self.resume_latencies: list[float] = []
        #: The first gaps and duplicates: (page, group, had, got, seconds since the restart).
        self.anomalies: list[tuple[str, int, str, str, str, float]] = []

    def anomaly(self, kind: str, page: Page, got: str, now: float) -> None:
        """Note a gap or duplicate (the first 20 are kept for the report)."""
        if len(self.anomalies) < 20:
            since = round(now - self.dropped_at, 3) if now >= self.dropped_at else -1.0
            had = f"{page.epoch}:{page.offset}" + ("" if page.joined else " (before joined)")
            self.anomalies.append((kind, page.index, page.group, had, got, since))

    def connect(self, page: Page) -> None:
        """Open the page's WebSocket, resuming from its position if it has one."""
        assert self.engine is not None
        query = "djws=1"
        if page.epoch is not None:
            since = json.dumps({page.group: f"{page.epoch}:{page.offset}"})
            query += "&djws-since=" + urllib.parse.quote(since, safe="")
        path = f"{self.path}{page.group}?{query}"
        page.joined = False
        if self.dropped_at <= perf():
            self.attempts_after_drop += 1
        conn = self.engine.open(path)
        if conn is None:
            self.retry(page, perf())
            return
        conn.extra = page
        page.conn = conn

    def retry(self, page: Page, now: float) -> None:
        """djws.js's ``_handleClose``: back off, then connect again."""
        page.conn = None
        if self.stopping:
            return
        if page.opened_at is not None and now - page.opened_at >= BACKOFF["stable_after"]:
            page.attempts = 0
        # Measured from this connection's open only, as djws.js does: an attempt that
        # fails without opening keeps backing off.
        page.opened_at = None
        delay = backoff(page.attempts, self.rng)
        if self.policy == "spread-5s" and page.attempts == 0:
            # An experiment, not djws.js: the first reconnection anywhere in 5 s.
            delay = 5.0 * self.rng.random()
        page.attempts += 1
        heapq.heappush(self.schedule, (now + delay, page.index))

    def on_open(self, conn: Conn, now: float) -> None:
        conn.extra.opened_at = now

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        page: Page = conn.extra
        try:
            message = json.loads(payload)
            kind = message["djws"]
            epoch, _, offset_text = message["position"].rpartition(":")
            offset = int(offset_text)
        except (ValueError, KeyError, TypeError):
            self.bad += 1
            return
        if kind == "message":
            if epoch == page.epoch and offset <= page.offset:
                self.duplicates += 1
                self.anomaly("duplicate", page, message["position"], now)
                return
            if epoch != page.epoch or offset != page.offset + 1:
                self.gaps += 1
                self.anomaly("gap", page, message["position"], now)
            page.epoch, page.offset = epoch, offset
            self.delivered += 1
        elif kind == "joined":
            recovered = message.get("recovered")
            if recovered is False:
                self.not_recovered += 1
            elif recovered is True and (epoch, offset) != (page.epoch, page.offset):
                self.gaps += 1  # the replay did not bring the page to the position
                self.anomaly("joined elsewhere", page, message["position"], now)
            page.epoch, page.offset = epoch, offset
            page.joined = True
            self.joined += 1
            if now >= self.dropped_at and page.back_at is None:
                page.back_at = now
                self.back += 1
                self.resume_latencies.append(now - conn.started)
        elif kind == "reset":
            self.resets += 1
            page.epoch, page.offset = epoch, offset

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        page: Page = conn.extra
        if page is None or page.conn is not conn:
            return
        if now >= self.dropped_at:
            self.closes_after_drop += 1
            if page.joined:
                self.last_close = max(self.last_close, now)
        page.joined = False
        self.retry(page, now)

    def due(self, now: float) -> None:
        """Connect every page whose backoff timer expired."""
        schedule, pages = self.schedule, self.pages
        while schedule and schedule[0][0] <= now:
            _, index = heapq.heappop(schedule)
            if pages[index].conn is None:
                self.connect(pages[index])


class Publisher:
    """The publishing process (``manage.py benchpublish``): primes every group with a
    message, publishes round-robin until its stdin closes, then prints a summary."""

    def __init__(self, spec: dict[str, Any]) -> None:
        env = {**os.environ, **spec.get("env", {})}
        self.process = subprocess.Popen(
            spec["argv"],
            cwd=spec.get("cwd"),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def read_line(self, deadline: float) -> str | None:
        """The next line of its output, or None at ``deadline`` or its exit."""
        assert self.process.stdout is not None
        while perf() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if not line:
                    return None
                self.lines.append(line)
                return line.strip()
        return None

    def stop(self) -> None:
        """Close its stdin: it finishes its current publish and prints its summary."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def kill(self) -> None:
        """Make sure it is gone."""
        self.stop()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def scenario_storm(cfg: dict[str, Any]) -> dict[str, Any]:
    """N pages (djws.js's policy) in G groups, a publisher, and a server restart.

    Phases: prime every group (so each page has a position), open the N pages
    (``?djws=1``), let messages flow, restart the server (SIGHUP: gunicorn
    replaces its workers, which close every WebSocket with 1001), then every page
    reconnects with djws.js's backoff and ``djws-since``. A page is **back** when
    its ``joined`` envelope says ``recovered: true``: the history replayed what it
    missed. Reported: the time from the restart to the last page back, with the
    distribution, and at the end whether every page holds every message of its
    group, exactly once and in order.
    """
    n, groups = cfg["connections"], cfg.get("groups", 100)
    pages = [Page(i, f"g{i % groups}") for i in range(n)]
    handler = StormHandler(pages, cfg["path"], cfg.get("policy", "djws.js"), cfg.get("seed", 1))
    engine = Engine(cfg["port"], handler)
    engine.handshake_timeout = cfg.get("handshake_timeout", 30.0)
    handler.engine = engine
    server_pid = cfg.get("server_pid")
    publisher = Publisher(cfg["publisher"])
    result: dict[str, Any] = {"ok": False, "connections": n, "groups": groups}
    try:
        primed = publisher.read_line(perf() + 60.0)
        if primed != "primed":
            result["error"] = f"the publisher did not prime the groups: {primed!r}"
            return result

        def loop(until: Callable[[], bool], deadline: float) -> bool:
            for _ in range(100_000_000):
                if until():
                    return True
                now = perf()
                if now >= deadline:
                    break
                handler.due(now)
                wait = min(0.02, deadline - now)
                if handler.schedule:
                    wait = min(wait, max(0.0, handler.schedule[0][0] - now))
                engine.poll(wait)
            return until()

        # 1. Open every page, ``concurrency`` handshakes in flight.
        start = perf()
        concurrency = cfg.get("concurrency", 100)
        opened = 0
        open_deadline = start + cfg.get("open_timeout", 300.0)
        for _ in range(n * 10 + 1000):
            while opened < n and opened - handler.joined < concurrency:
                handler.connect(pages[opened])
                opened += 1
            if handler.joined >= n or perf() >= open_deadline:
                break
            loop(lambda: False, perf() + 0.02)
        open_s = perf() - start
        result.update(initial_open_s=round(open_s, 3), initial_joined=handler.joined)
        log(f"storm: {handler.joined}/{n} pages joined in {open_s:.1f}s, errors={engine.errors}")
        if handler.joined < n:
            result["error"] = f"only {handler.joined} of {n} pages joined"
            result["errors"] = engine.errors
            return result
        loop(lambda: False, perf() + cfg.get("steady", 2.0))  # messages flowing
        errors_before = dict(engine.errors)

        # 2. The restart.
        meter = CpuMeter(server_pid)
        drops_before = listen_drops()
        handler.dropped_at = perf()
        os.kill(server_pid, signal.SIGHUP)
        storm_deadline = handler.dropped_at + cfg.get("storm_timeout", 120.0)
        loop(lambda: handler.back >= n, storm_deadline)
        back_times = sorted(p.back_at - handler.dropped_at for p in pages if p.back_at)
        cpu = meter.result()
        drops = {k: v - drops_before.get(k, 0) for k, v in listen_drops().items()}
        log(f"storm: {handler.back}/{n} back in {(back_times or [0])[-1]:.2f}s")

        # 3. Keep publishing a little, stop, and check every page has everything.
        loop(lambda: False, perf() + cfg.get("after", 1.0))
        publisher.stop()
        summary_line = publisher.read_line(perf() + 30.0)
        summary = json.loads(summary_line) if summary_line else {}
        last = {g: tuple(p.rsplit(":", 1)) for g, p in summary.get("last", {}).items()}

        def caught_up() -> bool:
            return all(
                last.get(p.group) == (p.epoch, str(p.offset)) for p in pages if p.conn is not None
            )

        loop(caught_up, perf() + cfg.get("drain", 20.0))
        at_end = sum(1 for p in pages if last.get(p.group) == (p.epoch, str(p.offset)))
        storm_errors = {
            k: v - errors_before.get(k, 0)
            for k, v in engine.errors.items()
            if v - errors_before.get(k, 0)
        }
        attempts = handler.attempts_after_drop
        result.update(
            # Measured: every page came back. Gaps and duplicates are targets, not errors.
            ok=handler.back == n,
            restart="SIGHUP",
            policy=handler.policy,
            all_back_s=round(back_times[-1], 3) if len(back_times) == n else None,
            back=handler.back,
            back_p50_s=round(percentile(back_times, 0.5) or 0, 3),
            back_p90_s=round(percentile(back_times, 0.9) or 0, 3),
            back_p99_s=round(percentile(back_times, 0.99) or 0, 3),
            # Pages back in each second after the restart: [0-1 s, 1-2 s, ...].
            back_per_second=[
                sum(1 for t in back_times if second <= t < second + 1)
                for second in range(int(back_times[-1]) + 1 if back_times else 0)
            ],
            closed_s=round(handler.last_close - handler.dropped_at, 3),
            # From the successful attempt's connect() to its joined envelope: the
            # server's own time per resume (queueing included), not the backoff.
            resume=latency_summary(handler.resume_latencies),
            reconnect_attempts=attempts,
            failed_attempts=max(0, attempts - n),
            storm_errors=storm_errors,
            # Connections the kernel dropped because the listen queue was full (these
            # counters are the whole machine's; the storm dominates them).
            listen_queue_drops=drops,
            not_recovered=handler.not_recovered,
            resets=handler.resets,
            gaps=handler.gaps,
            duplicates=handler.duplicates,
            anomalies=handler.anomalies,
            bad_messages=handler.bad,
            delivered=handler.delivered,
            published=summary.get("published"),
            publish_failed=summary.get("failed"),
            caught_up_at_end=at_end,
            errors=engine.errors,
            **cpu,
        )
        return result
    finally:
        handler.stopping = True
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
        publisher.kill()


# -- the mass resume --------------------------------------------------------------------


def resume_text(k: int, group: str, size: int) -> str:
    """Message ``k`` (1..M) of ``group``, exactly as ``manage.py benchfill`` publishes and
    stores it (``message_text`` there)."""
    return f"{k} {group} ".ljust(size, "x")


def run_fill(spec: dict[str, Any], options: list[str], timeout: float) -> dict[str, Any]:
    """Run ``manage.py benchfill`` with ``options``; return its JSON summary."""
    proc = subprocess.run(
        [*spec["argv"], *options],
        cwd=spec.get("cwd"),
        env={**os.environ, **spec.get("env", {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise RuntimeError(f"benchfill exited with {proc.returncode}: {proc.stderr[-800:]}")
    return json.loads(lines[-1])


class Client:
    """One client of the resume scenario: its group, the position it stands at (from
    its ``joined`` envelope), and its progress in the current phase."""

    __slots__ = (
        "ahead",
        "conn",
        "done_at",
        "epoch",
        "failed",
        "group",
        "index",
        "k",
        "offset",
    )

    def __init__(self, index: int, group: str) -> None:
        self.index = index
        self.group = group
        self.epoch = ""
        self.offset = 0
        self.conn: Conn | None = None
        self.k = 0  # messages of the replay received in order so far
        self.ahead: set[int] | None = None  # replayed messages received after a gap
        self.done_at: float | None = None
        self.failed = False

    def reset(self) -> None:
        """Forget the last phase's progress (not the position)."""
        self.conn = None
        self.k = 0
        self.ahead = None
        self.done_at = None
        self.failed = False


class ResumeHandler(Handler):
    """The three phases of the resume scenario, in ``mode``:

    * ``join``: the first ``joined`` envelope gives the client its position;
    * ``resume``: the M messages the client missed, replayed in envelopes,
      exactly once and in order, then ``joined`` with ``"recovered": true``;
    * ``reload``: one JSON message with the group's last M rows from the database.

    A client is *finished* when its phase's last message came, or its connection
    failed before that (then ``failed``).
    """

    def __init__(self, messages: int, size: int) -> None:
        self.mode = "join"
        self.m = messages
        self.size = size
        #: group -> the envelope bytes djws sends for its replayed messages 1..M, to
        #: recognise each with one comparison; anything else is parsed and checked.
        self.envelopes: dict[str, list[bytes]] = {}
        #: group -> [(position, text)] of its M messages, as published.
        self.rows: dict[str, list[tuple[str, str]]] = {}
        #: group -> the position the fill left it at.
        self.last: dict[str, str] = {}
        self.finished = 0
        self.counts: dict[str, int] = {}
        self.anomalies: list[tuple[str, int, str, str, str]] = []

    def expect(self, first: dict[str, str], last: dict[str, str]) -> None:
        """What each group's clients must get, from benchfill's positions."""
        self.last = dict(last)
        for group, position in first.items():
            epoch, _, offset = position.rpartition(":")
            start = int(offset)
            rows = [
                (f"{epoch}:{start + i}", resume_text(i + 1, group, self.size))
                for i in range(self.m)
            ]
            self.rows[group] = rows
            head = '{"djws":"message","group":%s,"position":"%s","kind":"text","data":%s}'
            self.envelopes[group] = [
                (head % (json.dumps(group), where, json.dumps(text))).encode()
                for where, text in rows
            ]

    def count(self, what: str, client: Client, detail: str = "") -> None:
        """Count one anomaly; keep the first 20 (kind, client, group, position, detail)."""
        self.counts[what] = self.counts.get(what, 0) + 1
        if len(self.anomalies) < 20:
            where = f"{client.epoch}:{client.offset + client.k}"
            self.anomalies.append((what, client.index, client.group, where, detail[:200]))

    def finish(self, client: Client, now: float) -> None:
        """The client got everything its phase sends it."""
        client.done_at = now
        self.finished += 1

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        client: Client | None = conn.extra
        if client is None or client.conn is not conn:
            return
        if self.mode == "resume":
            k = client.k
            if k < self.m and payload == self.envelopes[client.group][k]:
                client.k = k + 1  # the next replayed message, exactly as expected
                return
            self.resume_message(client, payload, now)
        elif self.mode == "reload":
            self.reload_message(client, payload, now)
        elif self.mode == "join":
            self.join_message(client, payload, now)

    def join_message(self, client: Client, payload: bytes, now: float) -> None:
        try:
            message = json.loads(payload)
            kind, position = message["djws"], message["position"]
        except (ValueError, KeyError, TypeError):
            self.count("bad message", client, repr(payload[:80]))
            return
        if kind != "joined" or client.done_at is not None:
            self.count(f"unexpected {kind} before the fill", client, position)
            return
        if message.get("recovered") is not None or message.get("group") != client.group:
            self.count("odd joined envelope", client, repr(payload[:120]))
        epoch, _, offset = position.rpartition(":")
        client.epoch, client.offset = epoch, int(offset)
        self.finish(client, now)

    def resume_message(self, client: Client, payload: bytes, now: float) -> None:
        try:
            message = json.loads(payload)
            kind, position = message["djws"], message["position"]
            epoch, _, offset = position.rpartition(":")
            index = int(offset) - client.offset  # 1..M for the replayed messages
        except (ValueError, KeyError, TypeError, AttributeError):
            self.count("bad message", client, repr(payload[:80]))
            return
        if client.done_at is not None:
            self.count(f"{kind} after joined", client, position)
            return
        if kind == "joined":
            if message.get("recovered") is not True:
                self.count("not recovered", client, repr(payload[:120]))
            elif position != self.last.get(client.group):
                self.count("joined elsewhere", client, position)
            if client.k != self.m:
                self.count("missing", client, f"{self.m - client.k} of {self.m} not replayed")
            self.finish(client, now)
            return
        if kind != "message" or message.get("group") != client.group:
            self.count(f"unexpected {kind}", client, repr(payload[:120]))
            return
        self.counts["parsed"] = self.counts.get("parsed", 0) + 1
        if epoch != client.epoch or not 1 <= index <= self.m:
            self.count("not a missed message", client, position)
            return
        ahead = client.ahead
        if index <= client.k or (ahead is not None and index in ahead):
            self.count("duplicate", client, position)
            return
        if index > client.k + 1:
            expected = f"{client.epoch}:{client.offset + client.k + 1}"
            self.count("gap", client, f"got {position}, expected {expected}")
            if ahead is None:
                ahead = client.ahead = set()
            ahead.add(index)
            return
        data = message.get("data")
        if data != self.rows[client.group][index - 1][1]:
            self.count("wrong payload", client, f"{position}: {data!r}"[:120])
        if ahead:
            self.count("out of order", client, position)
        client.k = index  # the next one (in another JSON spelling than expected)
        while ahead and client.k + 1 in ahead:
            ahead.discard(client.k + 1)
            client.k += 1

    def reload_message(self, client: Client, payload: bytes, now: float) -> None:
        if client.done_at is not None:
            self.count("message after the rows", client, repr(payload[:80]))
            return
        try:
            message = json.loads(payload)
            rows = [(row["position"], row["text"]) for row in message["messages"]]
        except (ValueError, KeyError, TypeError):
            self.count("bad rows", client, repr(payload[:80]))
            rows = None
        if rows is not None and rows != self.rows[client.group]:
            self.count("wrong rows", client, f"{len(rows)} rows, first {rows[:1]}")
        client.k = len(rows or ())
        self.finish(client, now)

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        client: Client | None = conn.extra
        if client is None or client.conn is not conn or client.done_at is not None:
            return
        client.failed = True
        self.finished += 1
        if self.mode in ("join", "resume", "reload"):
            self.count(f"{self.mode}: closed early", client, error or "clean close")


def scenario_resume(cfg: dict[str, Any]) -> dict[str, Any]:
    """N clients miss M messages each, then all come back at once: djws's resume
    (``djws-since``, replayed from the history) against reloading the last M rows
    from the database.

    Phases, on one server that never restarts (``local://`` keeps the history in
    the worker):

    1. ``benchfill --clear --messages 1``: one message per group, so every group
       has a position; then the N clients connect to ``/storm/<group>?djws=1``
       (``concurrency`` of them unfinished at a time) and note the position of
       their ``joined`` envelope;
    2. every client closes cleanly (close frame, the server's reply);
    3. ``benchfill --messages M``: M messages per group, published and stored as
       rows, while nobody is connected;
    4. **resume**: all N reconnect with ``djws-since={group: position}``, at most
       ``concurrency`` unfinished at a time; a client is caught up when it got its
       M messages exactly once and in order, then ``joined`` with ``recovered:
       true``. Then all close;
    5. **reload** (the baseline): all N connect to ``/reload/<group>?rows=M``,
       which joins the group, reads the group's last M rows from the database and
       sends them as one JSON message; a client is caught up when those are
       exactly the M messages. Then all close.

    For 4 and 5: the time from the first connect() to the last client caught up,
    clients/s, and each client's time from its connect() to its last message.
    """
    n, groups, m = cfg["connections"], cfg.get("groups", 50), cfg.get("messages", 100)
    size = cfg.get("size", 64)
    concurrency = cfg.get("concurrency", 200)
    clients = [Client(i, f"g{i % groups}") for i in range(n)]
    handler = ResumeHandler(m, size)
    engine = Engine(cfg["port"], handler)
    engine.handshake_timeout = cfg.get("handshake_timeout", 30.0)
    server_pid = cfg.get("server_pid")
    fill = cfg["fill"]
    fill_timeout = cfg.get("fill_timeout", 120.0)
    fill_options = ["--groups", str(groups), "--size", str(size)]
    result: dict[str, Any] = {
        "ok": False,
        "connections": n,
        "groups": groups,
        "messages_per_group": m,
        "concurrency": concurrency,
    }

    def wave(path_of: Callable[[Client], str], deadline: float) -> float:
        """Connect every client (``concurrency`` unfinished at a time) until each is
        finished or ``deadline``; returns when the first connect() was made."""
        handler.finished = 0
        for client in clients:
            client.reset()
        opened = 0
        start = perf()
        for _ in range(100_000_000):  # one poll each: bounded by the deadline in practice
            while opened < n and opened - handler.finished < concurrency:
                client = clients[opened]
                opened += 1
                conn = engine.open(path_of(client))
                if conn is None:
                    client.failed = True
                    handler.finished += 1
                    handler.count(f"{handler.mode}: could not connect", client)
                    continue
                conn.extra = client
                client.conn = conn
            now = perf()
            if handler.finished >= n or now >= deadline:
                break
            engine.poll(min(0.02, deadline - now))
        return start

    def close_all() -> int:
        """Close every connection cleanly; return how many were still open."""
        handler.mode = "closing"
        still_open = sum(1 for c in engine.conns.values() if c.state == OPEN)
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=True)
        engine.run(lambda: not engine.conns, perf() + 30.0)
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)
        return still_open

    def measured(prefix: str, start: float, meter: CpuMeter) -> dict[str, Any]:
        cpu = meter.result()
        done = [c for c in clients if c.done_at is not None and not c.failed]
        last = max((c.done_at for c in done), default=start)
        elapsed = max(last - start, 1e-9)
        times = [c.done_at - c.conn.started for c in done if c.conn is not None]
        out = {
            f"{prefix}_caught_up": len(done),
            f"{prefix}_failed": sum(1 for c in clients if c.failed),
            # Still waiting for their last message at the phase's deadline.
            f"{prefix}_unfinished": sum(1 for c in clients if c.done_at is None and not c.failed),
            f"{prefix}_all_s": round(elapsed, 3) if len(done) == n else None,
            f"{prefix}_clients_per_s": round(len(done) / elapsed, 1) if len(done) == n else None,
            **{f"{prefix}_{k}": v for k, v in latency_summary(times).items()},
            **{f"{prefix}_{k}": v for k, v in cpu.items()},
        }
        log(
            f"resume: {prefix}: {len(done)}/{n} caught up in {elapsed:.2f}s, "
            f"p50 {out[f'{prefix}_p50_ms']} ms, p99 {out[f'{prefix}_p99_ms']} ms, {cpu}"
        )
        return out

    try:
        # 1. A position for every group, every client joined and told where it stands.
        primed = run_fill(fill, [*fill_options, "--clear", "--messages", "1"], fill_timeout)
        if primed.get("failed") or len(primed.get("last", {})) != groups:
            result["error"] = f"could not prime the groups: {primed}"
            return result
        handler.mode = "join"
        start = wave(
            lambda c: f"{cfg['path']}{c.group}?djws=1", perf() + cfg.get("open_timeout", 120.0)
        )
        joined = sum(1 for c in clients if c.done_at is not None and not c.failed)
        result["open_s"] = round(perf() - start, 3)
        # The floor: handshake and join with nothing to replay (server CPU not measured).
        result["open_clients_per_s"] = round(joined / max(result["open_s"], 1e-9), 1)
        log(f"resume: {joined}/{n} joined in {result['open_s']}s, errors={engine.errors}")
        wrong = sum(1 for c in clients if f"{c.epoch}:{c.offset}" != primed["last"][c.group])
        if joined < n or wrong:
            result.update(
                error=f"{joined} of {n} joined, {wrong} at another position than the primed one",
                errors=engine.errors,
                anomalies=handler.anomalies,
            )
            return result

        # 2. Every client leaves; 3. the groups move on by M messages meanwhile.
        close_all()
        filled = run_fill(fill, [*fill_options, "--messages", str(m)], fill_timeout)
        result.update(
            published=filled.get("published"),
            fill_s=filled.get("seconds"),
            rows_in_table=filled.get("rows"),
        )
        log(f"resume: benchfill published {filled.get('published')} in {filled.get('seconds')}s")

        def next_position(position: str) -> str:
            epoch, _, offset = position.rpartition(":")
            return f"{epoch}:{int(offset) + 1}"

        # Nothing else published: each group's first new message follows the primed one.
        starts_ok = all(
            filled["first"].get(g) == next_position(p) for g, p in primed["last"].items()
        )
        if filled.get("failed") or not filled.get("consecutive") or not starts_ok:
            result["error"] = f"the fill did not continue every group by {m}: {filled}"
            return result
        handler.expect(filled["first"], filled["last"])

        # 4. Everyone resumes at once.
        handler.mode = "resume"
        errors_before = dict(engine.errors)
        meter = CpuMeter(server_pid)
        phase_timeout = cfg.get("phase_timeout", 120.0)

        def since_path(c: Client) -> str:
            since = urllib.parse.quote(json.dumps({c.group: f"{c.epoch}:{c.offset}"}), safe="")
            return f"{cfg['path']}{c.group}?djws=1&djws-since={since}"

        start = wave(since_path, perf() + phase_timeout)
        result.update(measured("resume", start, meter))
        result["replayed"] = sum(c.k for c in clients if c.done_at is not None)
        close_all()

        # 5. The baseline: everyone reloads the last M rows from the database.
        handler.mode = "reload"
        meter = CpuMeter(server_pid)
        start = wave(lambda c: f"{cfg['reload_path']}{c.group}?rows={m}", perf() + phase_timeout)
        result.update(measured("reload", start, meter))
        result["reloaded_rows"] = sum(c.k for c in clients if c.done_at is not None)
        close_all()

        counts = {k: v for k, v in handler.counts.items() if k != "parsed"}
        resume_s, reload_s = result.get("resume_all_s"), result.get("reload_all_s")
        result.update(
            # How many times longer the database reload took than the resume.
            reload_over_resume=round(reload_s / resume_s, 2) if resume_s and reload_s else None,
            anomaly_counts=counts,
            anomalies=handler.anomalies,
            # Replayed messages that were not byte for byte the envelope expected
            # (another JSON spelling is fine; they were then checked field by field).
            parsed_envelopes=handler.counts.get("parsed", 0),
            errors={
                k: v - errors_before.get(k, 0)
                for k, v in engine.errors.items()
                if v - errors_before.get(k, 0)
            },
        )
        problems = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        if problems or result.get("resume_all_s") is None or result.get("reload_all_s") is None:
            result["error"] = (
                f"resume caught up {result['resume_caught_up']}/{n}, reload "
                f"{result['reload_caught_up']}/{n}; {problems or 'no anomaly'}"
            )
        else:
            result["ok"] = True
        return result
    finally:
        handler.mode = "closing"
        for conn in list(engine.conns.values()):
            engine.close(conn, wait=False)


SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "echo": scenario_echo,
    "flood": scenario_flood,
    "idle": scenario_idle,
    "handshake": scenario_handshake,
    "broadcast": scenario_broadcast,
    "storm": scenario_storm,
    "resume": scenario_resume,
}


def main(argv: list[str]) -> int:
    """Run the scenario described by the JSON in ``argv[1]``; print the JSON result."""
    cfg = json.loads(argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cfg.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cfg["cpu"])})
    gc.disable()  # a collection pass over thousands of connections would stall the loop
    started = perf()
    result = SCENARIOS[cfg["scenario"]](cfg)
    result["client_wall_s"] = round(perf() - started, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
