"""``@event_stream``: the same groups as WebSockets, as Server-Sent Events.

An ``@event_stream`` view of ``WEBSOCKET_URLCONF`` gets the request and an
:class:`EventStream`, joins groups and returns; ``runwebsocket`` routes requests
that accept ``text/event-stream`` to it, and the response streams every message
of those groups (and of the connection's user and session) as one event each,
with the groups' positions in its ``id``, so that the browser's reconnection
(``Last-Event-ID``) resumes where it stopped. ``docs/howto/server-sent-events.rst``
is the guide: the view, ``{% event_stream_url %}``, the events' format,
resets, origins and tests.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl, quote

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from gevent.queue import Empty, Queue

from . import db, sessions
from .broadcast.hub import hub
from .broadcast.members import identify
from .broadcast.message import GroupMessage, GroupReset
from .broadcast.names import RESERVED_PREFIX
from .broadcast.position import Position
from .origin import origin_allowed
from .protocol.frames import Outgoing
from .server.registry import registry

__all__ = ["EventStream", "event_stream", "is_event_stream_request"]

logger = logging.getLogger("djws.request")

#: Seconds between keepalive comments on an idle stream.
KEEPALIVE = 15.0


def is_event_stream_request(environ: dict[str, Any]) -> bool:
    """Tell whether a request asks for Server-Sent Events (``Accept: text/event-stream``)."""
    return environ.get("REQUEST_METHOD") == "GET" and "text/event-stream" in environ.get(
        "HTTP_ACCEPT", ""
    )


def parse_last_event_id(value: str | None) -> dict[str, Position]:
    """Positions by group from a ``Last-Event-ID`` this module wrote (others: none)."""
    positions = {}
    for group, position in parse_qsl(value or "", keep_blank_values=False):
        try:
            positions[group] = Position.parse(position)
        except ValueError:
            continue
    return positions


class EventStream:
    """The ``stream`` an ``@event_stream`` view gets: join groups, and they are streamed.

    The stream itself needs nothing more from the view; the methods under
    "What the hub calls" and "What the server calls" are djws's own.
    """

    def __init__(self, request: HttpRequest) -> None:
        #: The Django request that opened the stream.
        self.request = request
        self._since = parse_last_event_id(request.META.get("HTTP_LAST_EVENT_ID"))
        self._positions: dict[str, Position] = {}
        self._queue: Queue[Any] = Queue()
        self.closed = False

    # What the broadcast hub calls (djws.broadcast.members.Subscriber)

    def deliver(self, item: Any) -> None:
        self._queue.put(item)

    def send_nowait(self, opcode: int, payload: bytes, frame: bytes | None = None) -> bool:
        return True  # a stream joins with forward=False only: nothing is forwarded raw

    def send_many_nowait(self, messages: Sequence[Outgoing]) -> bool:
        return True

    # What the server calls (djws.server.registry.Connection)

    #: The keepalive pass calls :meth:`tick` every time (streams are few, and the
    #: check is only their session's).
    tick_due = 0.0

    def close(self, code: int = 1000, reason: str = "") -> None:
        """End the stream (the worker is stopping, or a close order came): the
        browser reconnects later, as a new request."""
        self.closed = True
        self._queue.put(None)

    def tick(self, now: float, **limits: Any) -> None:
        """Read the session again if it is due to expire (the stream sends its own
        keepalive comments)."""
        sessions.check_expiry(self)

    # For the view

    def join(self, group: str) -> Any:
        """Stream ``group``'s messages; resume from the ``Last-Event-ID`` if it names the group.

        Return a :class:`~djws.broadcast.Joined`, as :meth:`WebSocket.join
        <djws.connection.WebSocket.join>` does. Raise ``ValueError`` for a
        name that is not a group's (empty, too long, or reserved: ``djws.``).
        """
        since = self._since.pop(group, None)
        joined = hub.join(self, group, forward=False, since=since)
        # The events queued meanwhile (replayed, or a reset) move it on from here.
        self._positions[group] = since if joined.recovered and since else joined.position
        return joined

    @property
    def groups(self) -> frozenset[str]:
        """The groups this stream joined."""
        return frozenset(self._positions)

    # The response

    def events(self) -> Iterator[bytes]:
        """Yield the stream's events until the client leaves or the server stops."""
        registry.add(self)
        try:
            yield b"retry: 1000\n\n"
            while not self.closed:
                try:
                    item = self._queue.get(timeout=KEEPALIVE)
                except Empty:
                    yield b": keepalive\n\n"
                    continue
                if item is None:
                    return
                yield self._event(item)
        finally:
            self.closed = True
            registry.discard(self)
            hub.forget(self)

    def _event(self, item: GroupMessage | GroupReset) -> bytes:
        # User and session messages (reserved group names) are not resumable, and
        # a session's group name would reveal its key to the page: not in the id.
        resumable = not item.group.startswith(RESERVED_PREFIX)
        if isinstance(item, GroupReset):
            self._positions[item.group] = item.position
            return b"event: reset\nid: %s\ndata: %s\n\n" % (self._id(), item.group.encode())
        if item.position is not None and resumable:
            self._positions[item.group] = item.position
        if item.kind == "binary":
            lines = [b"event: binary", b"data: " + base64.b64encode(item.wire[1:])]
        else:
            lines = [b"data: " + line for line in item.wire[1:].split(b"\n")]
        return b"id: " + self._id() + b"\n" + b"\n".join(lines) + b"\n\n"

    def _id(self) -> bytes:
        return "&".join(
            f"{quote(group, safe='')}={position}" for group, position in self._positions.items()
        ).encode()


View = Callable[..., Any]


def event_stream(view: View) -> View:
    """Make ``view(request, stream, *args, **kwargs)`` an event stream view.

    The view joins groups on ``stream`` (an :class:`EventStream`) and returns
    None: the response streams their messages. Returning an ``HttpResponse``
    refuses the stream with it. A request whose ``Origin`` is not allowed gets
    403 before the view runs; an allowed one gets CORS headers with credentials.
    """

    @wraps(view)
    def event_stream_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not origin_allowed(request):
            return HttpResponseForbidden(
                "Origin not allowed for this event stream.\n",
                content_type="text/plain; charset=utf-8",
            )
        identity = identify(request)
        stream = EventStream(request)
        hub.attach(stream, identity, forward_targets=False, expires=sessions.expiry_of(request))
        try:
            response = view(request, stream, *args, **kwargs)
        except BaseException:
            hub.forget(stream)
            raise
        if isinstance(response, HttpResponse):  # the view refused
            hub.forget(stream)
            return response
        db.release_connections()  # the stream may stay open for hours
        streaming = StreamingHttpResponse(stream.events(), content_type="text/event-stream")
        streaming["Cache-Control"] = "no-cache"
        streaming["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
        origin = request.META.get("HTTP_ORIGIN")
        if origin:
            streaming["Access-Control-Allow-Origin"] = origin
            streaming["Access-Control-Allow-Credentials"] = "true"
            streaming["Vary"] = "Origin"
        return streaming

    event_stream_view._non_atomic_requests = db.ALL_DATABASES  # type: ignore[attr-defined]
    event_stream_view.event_stream = True  # type: ignore[attr-defined]
    return event_stream_view
