"""The endpoint of signed streams: a page listens to streams without a view of its own.

Include it in ``WEBSOCKET_URLCONF``::

    path("live/", include("djws.live.urls"))

``{% turbo_stream_from %}`` and ``{% live_stream_url %}`` point pages at it,
with one or more ``?stream=<signed name>``. It serves the same streams over
WebSocket and, to a request that accepts ``text/event-stream``, as
Server-Sent Events (:mod:`djws.eventstream`); both resume where a reconnecting
client stopped.

Before anything is accepted, each name's signature is verified and the checks
of ``WEBSOCKET_STREAM_CHECKS`` run (:mod:`.streams`): a name the server did
not sign, one that expired, or one a check refuses gets 403, before the 101
(logged on ``djws.security``); no ``stream`` at all gets 400. The connection
then only listens: a message from the client closes it with 1003.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden

from .. import db
from ..decorators import event_stream, websocket
from .streams import allowed, unsign

if TYPE_CHECKING:
    from ..connection import WebSocket
    from ..eventstream import EventStream

__all__ = ["STREAM_PARAM", "stream"]

security_logger = logging.getLogger("djws.security")

#: The query parameter of each signed stream name.
STREAM_PARAM = "stream"

_LISTEN_ONLY = "this stream only sends: post forms to a WebSocket view of your own"


def _refuse(request: HttpRequest, why: str) -> HttpResponse:
    security_logger.warning(
        "Forbidden (%s): %s", why, request.path, extra={"request": request, "status_code": 403}
    )
    return HttpResponseForbidden(f"Forbidden: {why}.\n", content_type="text/plain; charset=utf-8")


def verified(request: HttpRequest) -> list[str] | HttpResponse:
    """The stream names of ``request``, or the response that refuses it."""
    tokens = request.GET.getlist(STREAM_PARAM)
    if not tokens:
        return HttpResponseBadRequest(
            f"Which stream? Give ?{STREAM_PARAM}=<signed name> ({{% live_stream_url %}}).\n",
            content_type="text/plain; charset=utf-8",
        )
    names = []
    for token in tokens:
        try:
            name = unsign(token)
        except signing.SignatureExpired:
            return _refuse(request, "the stream's signature expired (WEBSOCKET_STREAM_MAX_AGE)")
        except signing.BadSignature:
            return _refuse(request, "a stream name this site did not sign")
        if not allowed(request, name):
            return _refuse(request, f"stream {name!r} refused by WEBSOCKET_STREAM_CHECKS")
        names.append(name)
    return names


@websocket
def _listen(request: HttpRequest, ws: WebSocket, names: list[str]) -> None:
    for name in names:
        ws.join(name)
    for _message in ws:
        ws.close(1003, _LISTEN_ONLY)


@event_stream
def _stream_events(request: HttpRequest, stream: EventStream, names: list[str]) -> None:
    for name in names:
        stream.join(name)


def stream(request: HttpRequest) -> HttpResponse:
    """Stream the signed streams of ``?stream=``, over WebSocket or as Server-Sent Events."""
    names = verified(request)
    if isinstance(names, HttpResponse):
        return names
    if getattr(request, "websocket_upgrade", None) is not None:
        response: HttpResponse = _listen(request, names)
    else:
        response = _stream_events(request, names)
    return response


# Never inside ATOMIC_REQUESTS' transaction, like every djws view: a stream lasts hours.
stream._non_atomic_requests = db.ALL_DATABASES  # type: ignore[attr-defined]
