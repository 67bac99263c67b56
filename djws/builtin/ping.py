"""The ping server: ``ping`` gets ``pong``, ``pong`` gets ``ping``, anything else nothing.

Application-level pings, as django-websocket's ping server had them -- not to be confused with
the protocol's ping frames, which browsers answer on their own and pages never see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..decorators import websocket

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..connection import WebSocket

__all__ = ["REPLIES", "ping"]

#: What each text message is answered with; others are not answered at all.
REPLIES = {"ping": "pong", "pong": "ping"}


@websocket
def ping(request: HttpRequest, ws: WebSocket) -> None:
    """Answer ``ping`` with ``pong`` and ``pong`` with ``ping``; stay silent otherwise."""
    for message in ws:
        if isinstance(message, str) and message in REPLIES:
            ws.send(REPLIES[message])
