"""The djws side of the benchmark: plain synchronous views."""

from __future__ import annotations

import json
from typing import Any

from djws.decorators import websocket

from .models import Message

GROUP = "bench"
#: The render scenario's group, and the fragment it publishes.
RENDER_GROUP = "render"
RENDER_TEMPLATE = "bench/item.html"


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


#: How many rows ``reload`` sends: "the last 100 messages" of the group.
RELOAD_ROWS = 100


@websocket
def reload(request: Any, ws: Any, group: str) -> None:
    """The resume scenario's baseline: a page that reconnects without djws's history.

    Joins ``group`` for the live messages (first, so that nothing published
    during the query is missed), then reloads the group's last 100 rows from the
    database and sends them, oldest first, as one JSON message
    ``{"group": ..., "messages": [{"position": ..., "text": ...}, ...]}``.
    ``?rows=N`` asks for another number of rows (at most 1,000).
    """
    try:
        count = max(1, min(1000, int(request.GET.get("rows", RELOAD_ROWS))))
    except ValueError:
        count = RELOAD_ROWS
    ws.join(group)
    rows = list(
        Message.objects.filter(group=group).order_by("-id").values("position", "text")[:count]
    )
    rows.reverse()
    ws.send(json.dumps({"group": group, "messages": rows}))
    for _message in ws:
        pass


@websocket
def render_subscribe(request: Any, ws: Any) -> None:
    """The render scenario's member: join its group, say "ready", wait."""
    ws.join(RENDER_GROUP)
    ws.send("ready")
    for _message in ws:
        pass


@websocket
def render_control(request: Any, ws: Any) -> None:
    """Publish ``templates/bench/item.html`` for every ``"<seq> once|per-user"`` received.

    ``once``: rendered here, without a request, and published as text (what every
    server can do); ``per-user``: published with :func:`djws.live.per_user`, each
    member's worker rendering it for each distinct user among its members.
    """
    from django.template.loader import render_to_string

    from djws import broadcast, live

    for message in ws:
        seq, _, mode = str(message).partition(" ")
        context = {"seq": int(seq)}
        if mode == "per-user":
            broadcast.publish(RENDER_GROUP, live.per_user(RENDER_TEMPLATE, context))
        else:
            broadcast.publish(RENDER_GROUP, render_to_string(RENDER_TEMPLATE, context))
