"""The djws side of the benchmark: plain synchronous views."""

from __future__ import annotations

from typing import Any

from djws.decorators import websocket

GROUP = "bench"


@websocket
def echo(request: Any, ws: Any) -> None:
    """Send every message back."""
    for message in ws:
        ws.send(message)


@websocket
def whoami(request: Any, ws: Any) -> None:
    """Name the logged-in user (a session and a user query), then echo."""
    ws.send(request.user.get_username() or "anonymous")
    for message in ws:
        ws.send(message)


@websocket
def subscribe(request: Any, ws: Any) -> None:
    """Join the broadcast group, say "ready", then wait until the client leaves."""
    ws.join(GROUP)
    ws.send("ready")
    for _message in ws:
        pass


@websocket
def control(request: Any, ws: Any) -> None:
    """Publish every message received to the broadcast group."""
    from djws import broadcast

    for message in ws:
        broadcast.publish(GROUP, message)


@websocket
def storm(request: Any, ws: Any, group: str) -> None:
    """Join ``group``, then wait: the reconnect storm's page (it resumes by itself
    when it connects with ``?djws=1&djws-since=...``, as djws.js does)."""
    ws.join(group)
    for _message in ws:
        pass
