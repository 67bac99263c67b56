"""Helpers of the authentication tests: HTTP calls, refused handshakes, handshake environs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from .servers import Server

__all__ = ["KEY", "environ", "get", "pk_of", "refused", "whoami"]

#: The key of RFC 6455's example handshake.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def get(server: Server, path: str, session: str | None = None) -> tuple[int, bytes]:
    """GET ``path`` over HTTP, with the session cookie if given; status and body."""
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    request = urllib.request.Request(f"{server.http_url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def pk_of(server: Server, username: str) -> int:
    """The primary key of ``username``, from the test project's view."""
    return int(get(server, f"/user-pk/{username}/")[1])


def refused(server: Server, path: str, **kwargs: Any) -> Any:
    """Open ``path`` expecting an HTTP refusal; return the response."""
    with pytest.raises(InvalidStatus) as info:
        connect(f"{server.url}{path}", open_timeout=10, **kwargs).close()
    return info.value.response


def whoami(ws: ClientConnection) -> dict[str, Any]:
    """The JSON a whoami view sends first."""
    answer: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return answer


def environ(**overrides: Any) -> dict[str, Any]:
    """A valid upgrade request's WSGI environ; ``overrides`` change it (None removes)."""
    base = {
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.com",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "keep-alive, Upgrade",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "HTTP_SEC_WEBSOCKET_KEY": KEY,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}
