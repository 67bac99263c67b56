"""The client end of a test event stream: Server-Sent Events from an ``@event_stream`` view.

:class:`TestEventStream` sends a real ``GET`` with ``Accept: text/event-stream``
through the in-process server (:mod:`.server`: djws's handler, the project's
middleware, ``WEBSOCKET_URLCONF``) on a socket pair, reads the streamed HTTP
response and parses its events as a browser's ``EventSource`` does: ``data``
lines joined, ``event`` types, the last event ID kept across events, comments
and ``retry`` lines taken in. :meth:`TestEventStream.reconnect` reconnects with
``Last-Event-ID``, as the browser does after a drop.
"""

from __future__ import annotations

import json
import sys
import time
from types import TracebackType
from typing import Any, NamedTuple

import gevent
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse
from django.test import Client
from gevent import socket as gsocket

from .connection import HandshakeRefused
from .server import CLIENT_ADDRESS, ENVIRON_KEY, InProcessServer, raise_if_failed
from .waiting import timeout_error

__all__ = ["Event", "EventStreamRefused", "TestEventStream"]


class Event(NamedTuple):
    """One event of a stream, as ``EventSource`` dispatches it."""

    #: Its ``data`` lines, joined with newlines.
    data: str
    #: Its ``event`` field: ``"message"`` unless it named another (``"reset"``, ``"binary"``).
    event: str = "message"
    #: The stream's last event ID once this event arrived (what a reconnection sends).
    last_event_id: str = ""

    def json(self) -> Any:
        """Decode :attr:`data` as JSON."""
        return json.loads(self.data)


class EventStreamRefused(HandshakeRefused):
    """The server answered with another response than an event stream (404, 403, a redirect)."""

    def __init__(self, path: str, response: HttpResponse) -> None:
        super().__init__(path, response)
        detail = str(self).partition(" was refused: ")[2]
        self.args = (f"the event stream request to {path} was refused: {detail}",)


class TestEventStream:
    """An event stream opened by :meth:`djws.test.WebSocketClient.event_stream`.

    Every wait is bounded by ``timeout`` seconds (the client's
    ``websocket_timeout`` unless given): a view that sends nothing fails the
    test with ``TimeoutError``.
    """

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, client: Client, path: str, timeout: float, headers: dict[str, str]) -> None:
        self.client = client
        self.path = path
        self.timeout = timeout
        #: The response's status and headers (``response["Content-Type"]``).
        self.response: HttpResponse | None = None
        #: The last event ID: the one the stream sends back on :meth:`reconnect`.
        self.last_event_id = headers.get("Last-Event-ID", "")
        #: The reconnection delay the server asked for (``retry:``), in milliseconds.
        self.retry: int | None = None
        self._headers = headers
        self._raw = b""  # bytes off the socket, not decoded yet
        self._chunked = False
        self._body = b""  # the response body, de-chunked
        self._ended = False
        self._eof = False
        self._exc_info: Any = None
        self._sock, server_sock = gsocket.socketpair()
        self._server = InProcessServer(self)
        self._greenlet = gevent.spawn(self._serve, server_sock)

    def _serve(self, sock: Any) -> None:
        try:
            self._server.handle(sock, CLIENT_ADDRESS)  # type: ignore[arg-type] # stubs say str
        finally:
            sock.close()

    def _store_exc_info(self, request: HttpRequest | None = None, **kwargs: Any) -> None:
        if request is not None and request.META.get(ENVIRON_KEY) is self:
            self._exc_info = sys.exc_info()

    def _raise_view_exception(self) -> None:
        if self._exc_info is not None and self.client.raise_request_exception:
            exc_info, self._exc_info = self._exc_info, None
            raise exc_info[1].with_traceback(exc_info[2])

    # Opening

    def _open(self) -> None:
        lines = [f"GET {self.path} HTTP/1.1", "Host: testserver"]
        lines += [f"{name}: {value}" for name, value in self._headers.items()]
        got_request_exception.connect(self._store_exc_info)
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self._raw:
            self._read(deadline, f"the response to {self.path}")
            if self._eof:
                self._raise_view_exception()
                raise AssertionError(f"the server closed {self.path} without a response")
        head, _, self._raw = self._raw.partition(b"\r\n\r\n")
        self.response = response = self._parse_head(head.decode("latin-1"))
        self._chunked = response.get("Transfer-Encoding", "").lower() == "chunked"
        self._dechunk()
        content_type = response.get("Content-Type", "").partition(";")[0].strip()
        if response.status_code != 200 or content_type != "text/event-stream":
            while not self._ended and not self._eof:
                self._read(deadline, f"the response to {self.path}")
            response.content = self._body
            self.close()
            self._raise_view_exception()
            raise EventStreamRefused(self.path, response)

    def _parse_head(self, head: str) -> HttpResponse:
        status_line, *header_lines = head.split("\r\n")
        _version, status, reason = [*status_line.split(" ", 2), ""][:3]
        response = HttpResponse(status=int(status))
        response.reason_phrase = reason
        del response["Content-Type"]
        for line in header_lines:
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "set-cookie":
                self.client.cookies.load(value)
                response.cookies.load(value)
            else:
                response[name] = value
        return response

    # The socket

    def _read(self, deadline: float, waiting_for: str) -> None:
        """Read once from the socket (the view runs meanwhile); de-chunk what came."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timeout_error(self.timeout, waiting_for)
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise timeout_error(self.timeout, waiting_for) from None
        except OSError:
            data = b""
        if not data:
            self._eof = True
        self._raw += data
        if self.response is not None:
            self._dechunk()

    def _dechunk(self) -> None:
        if not self._chunked:
            self._body += self._raw
            self._raw = b""
            assert self.response is not None
            length = self.response.get("Content-Length")
            self._ended = length is not None and len(self._body) >= int(length)
            return
        while not self._ended:
            size_line, found, rest = self._raw.partition(b"\r\n")
            if not found:
                return
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self._body += rest[:size]
            self._raw = rest[size + 2 :]
            self._ended = size == 0

    # Receiving

    def receive(self, timeout: float | None = None) -> Event | None:
        """Return the next event; None once the server ended the stream.

        Raise ``TimeoutError`` if none came in time.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            event = self._next_event()
            if event is not None:
                self._raise_view_exception()
                return event
            if self._ended or self._eof:
                self._raise_view_exception()
                return None
            self._read(deadline, f"an event from {self.path}")

    def _next_event(self) -> Event | None:
        """Parse the complete blocks received so far; return the first that is an event."""
        while True:
            body = self._body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            block, found, rest = body.partition(b"\n\n")
            if not found:
                return None
            self._body = rest
            event = self._parse_block(block.decode())
            if event is not None:
                return event

    def _parse_block(self, block: str) -> Event | None:
        data: list[str] = []
        kind = "message"
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue  # a comment: keepalive
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                kind = value
            elif name == "id" and "\x00" not in value:
                self.last_event_id = value
            elif name == "retry" and value.isdigit():
                self.retry = int(value)
        if not data:
            return None  # EventSource dispatches nothing without data
        return Event("\n".join(data), kind or "message", self.last_event_id)

    def assert_nothing_received(self, timeout: float = 0.1) -> None:
        """Let the view run for ``timeout`` seconds; fail if it sent an event."""
        try:
            event = self.receive(timeout)
        except TimeoutError:
            return
        if event is not None:
            raise AssertionError(f"expected no event from {self.path}, got {event!r}")

    # Closing

    @property
    def closed(self) -> bool:
        """True once the stream was closed, by either side."""
        return self._sock.fileno() == -1 or self._ended or self._eof

    def close(self) -> None:
        """Close the connection, as a browser leaving the page; the view's stream ends."""
        self._sock.close()
        got_request_exception.disconnect(self._store_exc_info)
        # The stream waits for its next message, not for the socket: end it now,
        # rather than at its next write.
        self._greenlet.kill(block=True, timeout=self.timeout)
        if not self._greenlet.dead:
            raise AssertionError(f"the event stream of {self.path} did not end after the close")
        raise_if_failed(self._greenlet, self.path)
        self._raise_view_exception()

    def reconnect(self) -> TestEventStream:
        """Close, then open the same path again with ``Last-Event-ID``, as ``EventSource`` does."""
        self.close()
        headers = dict(self._headers)
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        stream = TestEventStream(self.client, self.path, self.timeout, headers)
        stream._open()
        return stream

    def __enter__(self) -> TestEventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._greenlet.dead or self._sock.fileno() != -1:
            self.close()

    def __repr__(self) -> str:
        return f"<TestEventStream {self.path} {'closed' if self.closed else 'open'}>"
