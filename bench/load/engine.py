"""The load client's event loop: one ``epoll`` object, raw non-blocking sockets.

No asyncio, no streams: :class:`Engine` opens WebSockets to 127.0.0.1 with a real
HTTP upgrade, answers pings, and hands each whole message to a scenario's
:class:`Handler`. A fast path recognises a whole expected frame (``Conn.fast``: an
echo) by one ``bytes`` comparison, and the clock is read once per ``epoll.poll()``
batch: every callback of a batch gets that ``now``.

Every loop here is bounded both in count and in time: each has a deadline and
every ``while`` checks it. Connections stuck in a handshake or a close are failed
by a sweep (``handshake_timeout``, ``close_timeout``).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import select
import socket
from collections.abc import Callable

from . import perf
from .conn import CLOSED, CLOSING, CONNECTING, HANDSHAKING, OPEN, Conn, Handler
from .frames import (
    CLOSE_FRAME,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    close_code_in,
    mask_frame,
)

__all__ = [
    "CLOSED",
    "CLOSING",
    "CONNECTING",
    "HANDSHAKING",
    "HOST",
    "OPEN",
    "Conn",
    "Engine",
    "Handler",
]

HOST = "127.0.0.1"  # the only address this client ever talks to
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = base64.b64encode(b"djws-bench-key!!").decode()
ACCEPT = base64.b64encode(hashlib.sha1((KEY + GUID).encode()).digest())

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERRHUP = select.EPOLLERR | select.EPOLLHUP


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
