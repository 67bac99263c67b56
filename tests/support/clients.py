"""Clients of a real server's test views: logging in, joining groups, publishing.

The test project's ``/broadcast/...`` views (``tests/project/testproject/views.py``)
join groups and publish on command; these open them with the ``websockets``
library, with a session cookie when a test logs in over HTTP first. The memory,
Redis and PostgreSQL broadcast tests, delivery, Celery, metrics and multi-host
tests share them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .servers import Server, manage

__all__ = [
    "PG_URL",
    "Events",
    "ask_json",
    "closed_with",
    "envelope",
    "identity",
    "join",
    "login",
    "member",
    "open_ws",
    "publish",
    "shell",
    "still_open",
    "unique_prefix",
]

#: The machine's PostgreSQL, as a broadcast URL.
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


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


def member(server: Server, group: str, since: dict[str, str] | None = None) -> ClientConnection:
    """A member asking for positions (as djws.js does), resuming from ``since``."""
    query = "djws=1"
    if since is not None:
        query += "&djws-since=" + quote(json.dumps(since))
    return connect(f"{server.url}/broadcast/member/{group}/?{query}", open_timeout=10)


def envelope(ws: ClientConnection) -> dict[str, Any]:
    """The next message, a djws envelope (``{"djws": ...}``)."""
    message = json.loads(ws.recv(timeout=10))
    assert isinstance(message, dict), message
    assert "djws" in message, message
    return message


def closed_with(ws: ClientConnection, timeout: float = 1.0) -> tuple[int, str]:
    """Wait (at most ``timeout`` s) for the server to close ``ws``; its code and reason."""
    deadline = time.monotonic() + timeout
    try:
        message = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
    except TimeoutError:
        raise AssertionError(f"still open after {timeout} s") from None
    except ConnectionClosed as exc:
        frame = exc.rcvd
    else:
        raise AssertionError(f"got a message instead of a close: {message!r}")
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


class Events:
    """A raw event-stream reader on one HTTP response."""

    def __init__(self, server: Server, path: str, headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.response = self.conn.getresponse()

    def next(self) -> dict[str, str]:
        """The next event, as its fields (``data`` lines joined with newlines)."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if not line:
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                fields.setdefault("comment", line)
                continue
            name, _, value = line.partition(": ")
            fields[name] = f"{fields[name]}\n{value}" if name in fields else value

    def close(self) -> None:
        self.conn.close()


def still_open(ws: ClientConnection, user: Any, via: ClientConnection) -> None:
    """``ws`` is open: a ``send_to_user`` sent through ``via`` (a broadcast member) reaches it."""
    via.send(f"to-user {user} still there?")
    assert ws.recv(timeout=5) == "still there?"


def shell(code: str, env: dict[str, str]) -> None:
    """Run ``code`` in the test project's ``manage.py shell``; it must succeed silently."""
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
