"""HTTP/1.1 responses as bytes: the one place djws writes HTTP by hand.

A server answers on the raw socket in two cases: the ``101 Switching
Protocols`` that accepts a WebSocket, and the refusals it sends before Django
runs (400, 405, 408, 426, 431, 503, 505). Both go through :func:`serialize`,
which is the ``websockets`` library's response serializer. Responses that
Django produces (403, 404, a redirect...) are written by the WSGI server as
usual; the 426 for a plain HTTP request is the same text either way
(:data:`UPGRADE_REQUIRED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from websockets.datastructures import Headers
from websockets.http11 import Response

__all__ = ["UPGRADE_REQUIRED", "UPGRADE_REQUIRED_HEADERS", "plain", "plain_headers", "serialize"]

#: The body of a 426 for a plain HTTP request to a WebSocket address.
UPGRADE_REQUIRED = (
    "426 Upgrade Required\n\nThis address serves WebSocket connections. "
    "Open it with a WebSocket client (new WebSocket('ws://...') in a browser).\n"
)
#: The headers a 426 carries besides its content type and length.
UPGRADE_REQUIRED_HEADERS = (("Upgrade", "websocket"), ("Connection", "Upgrade"))


def serialize(status: int, headers: Sequence[tuple[str, str]], body: bytes = b"") -> bytes:
    """Return an HTTP/1.1 response with ``status``, ``headers`` and ``body``."""
    return Response(status, HTTPStatus(status).phrase, Headers(headers), body).serialize()


def plain_headers(body: bytes, *, close: bool = True) -> list[tuple[str, str]]:
    """The headers of a short plain-text response with ``body``."""
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    if close:
        headers.append(("Connection", "close"))
    return headers


def plain(status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """Return a plain-text response that closes the connection; ``message`` is its body."""
    body = message.encode() if message.endswith("\n") else (message + "\n").encode()
    return serialize(status, [*plain_headers(body), *headers], body)
