"""Non-blocking socket I/O for one WebSocket connection, on gevent's event loop.

Why not plain gevent socket calls: a view blocked in ``receive()`` must also wake
up when something is *delivered* to it (a group message, an item from another
greenlet) without a second reader and without losing bytes, and a broadcast must
queue a frame for a slow client without waiting for it. So the socket is put in
non-blocking mode and this class waits on its own event-loop watchers, which
another greenlet can interrupt safely with :meth:`Transport.wake`.

Writes try the socket at once; what does not fit is queued and written by one
short-lived greenlet. The queue is bounded: a non-waiting write past the limit
raises :class:`~djws.exceptions.BufferFull`, a waiting write blocks until the
queue drains below the limit.

A worker holds thousands of these, nearly all idle: the write side (the queue,
its watcher, the event senders wait on) is created only when the kernel's
buffer first fills, and the queue is dropped again once it has drained.

Fair turns: gevent switches greenlets only when one would block. A client that
sends without pause keeps its socket readable, so its view's loop never blocks,
and every other connection of the worker, the accept loop, keepalive pings and
broadcast fan-out wait for as long as the flood lasts (measured: the others'
echo p99 at 29 s, a new handshake 5.4 s). So a connection that has run for
:data:`TURN` seconds since it last waited hands the worker over
(:meth:`Transport.take_turn`): it sleeps on a timer, the event loop polls, and
every connection that became ready meanwhile runs before this one resumes.
``gevent.sleep(0)`` would not do: gevent runs callbacks queued during its
callback pass in the same pass, so the flooder would resume before the loop polls.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections import deque
from time import monotonic
from typing import Any

import gevent
from gevent.event import Event
from gevent.hub import Waiter, get_hub

from ..exceptions import BufferFull

__all__ = ["TURN", "Transport"]

#: Seconds a connection may run without waiting before it yields the worker.
TURN = 0.0005
#: Bytes of control frames queued for a client that reads nothing (a ping flood
#: answered with pongs) before writing one more raises BufferFull.
FORCED_LIMIT = 65536
RECV_SIZE = 65536
_READ, _WRITE = 1, 2
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Transport:
    """Read and write bytes on a connected socket without blocking other greenlets."""

    __slots__ = (
        "__weakref__",
        "_buffered",
        "_close_after_flush",
        "_discarding",
        "_drained",
        "_emptied",
        "_flusher",
        "_forced",
        "_io",
        "_loop",
        "_out",
        "_read_watcher",
        "_reader",
        "_shutdown_after_flush",
        "_sock",
        "_tls",
        "_write_limit",
        "_write_watcher",
        "_writer",
        "closed",
        "queued",
        "turn_ends",
    )

    def __init__(self, sock: socket.socket, buffered: bytes = b"", *, write_limit: int) -> None:
        sock.settimeout(0.0)
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        # Reads and writes go to gevent's own non-blocking socket object beneath its
        # cooperative wrapper (this class does the waiting): one Python call fewer
        # each. TLS keeps the wrapper, which does the encryption.
        self._io = sock if self._tls else getattr(sock, "_sock", sock)
        # True when the last read left the kernel's buffer empty: the next read
        # waits for the socket to be readable first instead of failing at once.
        self._emptied = False
        self._loop = get_hub().loop
        self._read_watcher = self._loop.io(sock.fileno(), _READ)
        self._buffered = buffered
        self._write_limit = write_limit
        # The write side, created when first needed (see the module's docstring).
        self._out: deque[bytes | memoryview] | None = None
        self._write_watcher: Any = None
        self._drained: Event | None = None
        self._flusher: gevent.Greenlet[[], None] | None = None
        self._reader: Waiter[bool] | None = None
        self._writer: Waiter[bool] | None = None
        self._close_after_flush = False
        self._shutdown_after_flush = False
        self._discarding = False  # see shutdown_write()
        self._forced = 0  # bytes of control frames queued since the queue was last empty
        #: Bytes queued but not yet accepted by the kernel.
        self.queued = 0
        #: True once the socket is closed; nothing can be read or written after.
        self.closed = False
        #: When this connection's greenlets must next yield, unless they wait first.
        self.turn_ends = monotonic() + TURN

    # Reading

    def recv(self, timeout: float | None = None) -> bytes | None:
        """Return the next bytes; ``b""`` at end of stream; None on timeout, wake() or
        bytes discarded (see :meth:`shutdown_write`)."""
        if self._buffered:
            data, self._buffered = self._buffered, b""
            return data
        while not self.closed:
            if self._emptied:
                # A client that waits for each answer has sent nothing more yet:
                # waiting first saves a read that would fail (a system call and an
                # exception). The watcher fires at once if bytes came meanwhile.
                if not self._wait(self._read_watcher, timeout, reader=True):
                    return None
                self._emptied = False
            try:
                data = self._io.recv(RECV_SIZE)
            except _WOULD_BLOCK:
                self._emptied = True
                continue
            except OSError:
                return b""
            # Less than asked: the buffer is empty now (not so under TLS, whose
            # records may hold more than one read returns).
            self._emptied = 0 < len(data) < RECV_SIZE and not self._tls
            if data and self._discarding:
                # TLS records after the TLS layer was dropped: not for the caller,
                # who loops (and takes its turn) as after a wake().
                return None
            return data
        return b""

    def recv_nowait(self) -> bytes | None:
        """Return bytes already received, ``b""`` at end of stream, None if there are none.

        For a greenlet other than the reader's, while the reader is not waiting
        (see :attr:`reading`): it never blocks.
        """
        if self._buffered:
            data, self._buffered = self._buffered, b""
            return data
        if self.closed:
            return b""
        try:
            data = self._io.recv(RECV_SIZE)
        except _WOULD_BLOCK:
            return None
        except OSError:
            return b""
        return None if data and self._discarding else data

    @property
    def reading(self) -> bool:
        """True while a greenlet waits in :meth:`recv`."""
        return self._reader is not None

    def wake(self) -> None:
        """Make a ``recv()`` blocked in another greenlet return None soon."""
        if self._reader is not None:
            self._loop.run_callback(self._reader.switch, False)

    def take_turn(self) -> None:
        """Yield the worker to the other connections if this one ran a whole turn without waiting.

        Called each time the view asks for a message or sends one; costs one clock read.
        """
        if monotonic() >= self.turn_ends:
            hub = get_hub()
            # Below the priority of socket watchers, so this greenlet resumes after
            # every connection the loop found ready has had its turn.
            timer = self._loop.timer(0.0, priority=-1)
            try:
                hub.wait(timer)
            finally:
                timer.close()
            self.turn_ends = monotonic() + TURN

    # Writing

    def write(self, data: bytes | memoryview, *, wait: bool = True, force: bool = False) -> None:
        """Send ``data`` in order after everything written before.

        With ``wait`` the caller blocks while more than the limit is queued;
        without, it raises BufferFull instead (the data is not queued then).
        ``force`` queues past the limit without waiting: for control frames,
        which are small, and must go out even to a client that reads slowly;
        once :data:`FORCED_LIMIT` of them wait in the queue, it raises BufferFull too.
        """
        if self.closed:
            raise BrokenPipeError("the connection is closed")
        out = self._out
        if not out:
            try:
                sent = self._io.send(data)
            except _WOULD_BLOCK:
                sent = 0
            except OSError:
                self.abort()
                raise
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        if force:
            self._forced += len(data)
            if self._forced > FORCED_LIMIT:
                raise BufferFull(f"{self._forced} bytes of control frames queued, none read")
        elif not wait and self.queued + len(data) > self._write_limit:
            raise BufferFull(f"{self.queued} bytes already queued for a client that is not reading")
        if out is None:
            out = self._out = deque()
        out.append(data)
        self.queued += len(data)
        if self._flusher is None:
            self._flusher = gevent.spawn(self._flush)
        while wait and not force and self.queued > self._write_limit and not self.closed:
            drained = self._drained
            if drained is None:
                drained = self._drained = Event()
            drained.clear()
            drained.wait()

    def _flush(self) -> None:
        out = self._out
        try:
            while out and not self.closed:
                chunk = out[0]
                try:
                    sent = self._io.send(chunk)
                except _WOULD_BLOCK:
                    if self._write_watcher is None:
                        self._write_watcher = self._loop.io(self._sock.fileno(), _WRITE)
                    self._wait(self._write_watcher, None, reader=False)
                    continue
                except OSError:
                    self.abort()
                    return
                self.queued -= sent
                if sent == len(chunk):
                    out.popleft()
                else:
                    out[0] = memoryview(chunk)[sent:]
                if self.queued <= self._write_limit and self._drained is not None:
                    self._drained.set()
        finally:
            self._flusher = None
            if not self._out:
                self._out = None  # drained: an idle connection keeps no queue
                self._forced = 0
            if self._drained is not None:
                self._drained.set()
            if self._close_after_flush:
                self._close_now()
            elif self._shutdown_after_flush:
                self.shutdown_write()

    # Closing

    def shutdown_write(self) -> None:
        """Send FIN once queued data is out; keep reading until the client's EOF.

        TLS has no half-close of its own: as Python's ``SSLSocket.shutdown`` (and
        websockets' own server) do, the TLS layer is dropped without a
        close_notify and TCP is half-closed beneath it. What the client sends
        after that is still encrypted, so :meth:`recv` discards it; closing at
        once instead would reset a connection with bytes unread, and the client
        could lose the close frame.
        """
        if self._flusher is not None:
            self._shutdown_after_flush = True
            return
        if self.closed:
            return
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        if self._tls:
            self._discarding = True

    def close(self) -> None:
        """Close after the queued data has been written."""
        if self._flusher is not None:
            self._close_after_flush = True
        else:
            self._close_now()

    def abort(self) -> None:
        """Close now, dropping queued data."""
        if self._out is not None:
            self._out.clear()
        self.queued = 0
        self._close_now()

    def _close_now(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._read_watcher.stop()
        if self._write_watcher is not None:
            self._write_watcher.stop()
        for waiter in (self._reader, self._writer):
            if waiter is not None:
                self._loop.run_callback(waiter.switch, False)
        if self._drained is not None:
            self._drained.set()
        with contextlib.suppress(OSError):
            self._sock.close()

    def _wait(self, watcher: Any, timeout: float | None, *, reader: bool) -> bool:
        """Wait until ``watcher`` fires (True), or timeout / wake / close (False)."""
        waiter: Waiter[bool] = Waiter()
        if reader:
            self._reader = waiter
        else:
            self._writer = waiter
        watcher.start(waiter.switch, True)
        timer = None
        if timeout is not None:
            timer = self._loop.timer(max(timeout, 0.0))
            timer.start(waiter.switch, False)
        try:
            return bool(waiter.get())
        finally:
            self.turn_ends = monotonic() + TURN
            watcher.stop()
            if timer is not None:
                timer.close()
            if reader:
                self._reader = None
            else:
                self._writer = None
