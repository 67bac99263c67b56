"""The echo server: every message comes back as it was sent, text as text, binary as binary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..decorators import websocket

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..connection import WebSocket

__all__ = ["echo"]


@websocket
def echo(request: HttpRequest, ws: WebSocket) -> None:
    """Repeat every message until the client closes."""
    for message in ws:
        ws.send(message)
