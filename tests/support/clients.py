"""Clients of a real server's test views: logging in, joining groups, publishing.

The test project's ``/broadcast/...`` views (``tests/project/testproject/views.py``)
join groups and publish on command; these open them with the ``websockets``
library, with a session cookie when a test logs in over HTTP first. The memory,
Redis and PostgreSQL broadcast tests, delivery, Celery, metrics and multi-host
tests share them.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

from websockets.sync.client import ClientConnection, connect

from .servers import Server

__all__ = ["ask_json", "identity", "join", "login", "open_ws", "publish", "unique_prefix"]


def unique_prefix() -> str:
    """A key prefix of our own on the shared Redis / PostgreSQL."""
    return f"test-{uuid.uuid4().hex[:10]}"


def login(server: Server, username: str) -> str:
    """Log ``username`` in over HTTP (a new session each time); return the session key."""
    url = f"{server.http_url}/login/{username}/"
    with urllib.request.urlopen(url, timeout=10) as response:
        cookies = response.headers.get_all("Set-Cookie")
    for cookie in cookies:
        name, _, rest = cookie.partition("=")
        if name == "sessionid":
            return rest.split(";", 1)[0]
    raise AssertionError(f"no session cookie in {cookies}")


@contextlib.contextmanager
def open_ws(
    server: Server, path: str, *, session: str | None = None, **kwargs: Any
) -> Iterator[ClientConnection]:
    """Connect to ``path``, with the session cookie if given."""
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    with connect(
        f"{server.url}{path}", additional_headers=headers, open_timeout=10, **kwargs
    ) as ws:
        yield ws


@contextlib.contextmanager
def join(
    server: Server, group: str, *, relay: bool = False, **kwargs: Any
) -> Iterator[ClientConnection]:
    """Open a member (or, with ``relay``, a forward=False) connection of ``group``."""
    kind = "relay" if relay else "member"
    with open_ws(server, f"/broadcast/{kind}/{group}/", **kwargs) as ws:
        assert ws.recv(timeout=10) == "joined"
        yield ws


@contextlib.contextmanager
def identity(
    server: Server, session: str | None = None
) -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
    """Open the identity view; yield the connection and its {user, session}."""
    with open_ws(server, "/broadcast/identity/", session=session) as ws:
        yield ws, json.loads(ws.recv(timeout=10))


def ask_json(ws: ClientConnection, command: str, timeout: float = 10) -> Any:
    """Send a test command and decode the JSON answer."""
    ws.send(command)
    return json.loads(ws.recv(timeout=timeout))


def publish(server: Server, group: str, *texts: str) -> list[str]:
    """Publish ``texts`` to ``group`` from another connection; return their positions."""
    positions = []
    with join(server, f"{group}-publisher") as publisher:
        for text in texts:
            publisher.send(f"publish-position-to {group} {text}")
            reply = publisher.recv(timeout=10)
            assert reply.startswith("position "), reply
            positions.append(reply.removeprefix("position "))
    return positions
