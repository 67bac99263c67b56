"""The chat server: rooms of people exchanging messages, on top of :mod:`djws.broadcast`.

The protocol is JSON in text messages. A client sends::

    {"name": "Ada", "color": "#1f77b4", "text": "Hello"}

Every message carries its sender's name and name colour, so a client may change
either at any time and nothing is kept per connection. It is validated with
:class:`djws.contrib.chat.forms.ChatMessageForm`; a bad one is answered, to its sender only,
with ``{"type": "error", "errors": {"color": ["Enter a colour as #rrggbb..."]}}``.
A good one is stored, then published to the room, and everyone in the room --
the sender too -- receives::

    {"type": "message", "id": 7, "room": "lobby", "name": "Ada",
     "color": "#1f77b4", "text": "Hello", "time": "2025-01-01T12:00:00+00:00"}

A client may add a ``client_id`` of its choosing (a string of at most
:data:`CLIENT_ID_MAX_LENGTH` characters) to learn what became of that message:
the answers to it, to the sender only, carry the same ``client_id``. An error
is ``{"type": "error", "client_id": "c1", "errors": {...}}``; a message stored
and published is acknowledged with the message as the room receives it::

    {"type": "ack", "client_id": "c1", "message": {"type": "message", "id": 7, ...}}

The ack comes before the room's copy of the message (which has no ``client_id``):
until it arrives the message may not have reached the server, and a page keeps
it as its sender's draft. A message stored but not published (the broadcast
backend is down) is acknowledged too, then followed by an error saying so.

A client that joins first gets the room's recent history (the last
``WEBSOCKET_CHAT_HISTORY`` messages, oldest first)::

    {"type": "history", "room": "lobby", "messages": [<message>, ...], "reloaded": false}

A client that reconnects with its position (djws.js does, by itself) gets the
messages it missed instead, exactly once; if they are no longer in the
broadcast history, it gets the history again, with ``"reloaded": true``: the
page should say that messages older than it may be missing.

History lives in the database (:class:`djws.contrib.chat.models.ChatMessage`),
so it survives restarts and is shared by every worker; run ``manage.py migrate``.
Importing this module requires ``"djws.contrib.chat"`` in ``INSTALLED_APPS``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from ... import broadcast
from ...connection import CloseCode
from ...decorators import websocket
from .conf import settings
from .forms import ChatMessageForm
from .models import ChatMessage

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ...connection import WebSocket

__all__ = [
    "CLIENT_ID_MAX_LENGTH",
    "DEFAULT_ROOM",
    "ROOM_RE",
    "chat",
    "group_name",
    "history",
    "post",
    "store",
]

logger = logging.getLogger("djws.contrib.chat")

#: The room of ``chat/``.
DEFAULT_ROOM = "lobby"
#: Room names: what a URL slug allows, at most as long as ``ChatMessage.room``.
ROOM_RE = r"[-a-zA-Z0-9_]{1,64}"
#: The longest ``client_id`` a client may attach to a message.
CLIENT_ID_MAX_LENGTH = 64


def group_name(room: str) -> str:
    """Return the broadcast group of a room (``djws.`` is reserved for broadcast's own use)."""
    return f"djws-chat.{room}"


def history(room: str) -> list[ChatMessage]:
    """Return the room's most recent messages, oldest first."""
    limit = settings.WEBSOCKET_CHAT_HISTORY
    if limit <= 0:
        return []
    recent = ChatMessage.objects.filter(room=room).order_by("-id")[:limit]
    return list(reversed(recent))


def post(room: str, form: ChatMessageForm) -> dict[str, Any]:
    """Store a valid message, forget the room's oldest beyond the history limit,
    and publish the message to the room; return what was published.
    """
    data = store(room, form)
    broadcast.publish(group_name(room), data)
    return data


def store(room: str, form: ChatMessageForm) -> dict[str, Any]:
    """Store a valid message and forget the room's oldest beyond the history limit;
    return the message as clients receive it (unsaved when the history is off).
    """
    limit = settings.WEBSOCKET_CHAT_HISTORY
    message: ChatMessage = form.save(commit=False)
    message.room = room
    if limit > 0:
        # One short transaction, no waiting inside it: under gevent a greenlet
        # that yields while holding SQLite's write lock blocks every writer.
        with transaction.atomic():
            message.save()
            newest = ChatMessage.objects.filter(room=room).order_by("-id")
            cutoff = list(newest.values_list("id", flat=True)[limit : limit + 1])
            if cutoff:
                ChatMessage.objects.filter(room=room, id__lte=cutoff[0]).delete()
    else:
        message.created = timezone.now()  # history is off: nothing is stored
    return message.as_json()


def _error(ws: WebSocket, errors: dict[str, list[str]], client_id: str | None = None) -> None:
    reply: dict[str, Any] = {"type": "error", "errors": errors}
    if client_id is not None:
        reply["client_id"] = client_id
    ws.send_json(reply)


@websocket
def chat(request: HttpRequest, ws: WebSocket, room: str = DEFAULT_ROOM) -> None:
    """Join ``room``: send its history, then relay messages both ways until the client leaves.

    A client that resumes (djws.js does) gets exactly the messages it missed
    instead of the history; if they cannot be replayed any more, it gets the
    history again, marked ``"reloaded": true``.
    """
    # Join before reading the history, so that no message falls between the
    # two; one that is both in the history and delivered is skipped by its id.
    joined = ws.join(group_name(room), forward=False)
    sent: set[Any] = set()
    if joined.recovered is None and not _send_history(ws, room, sent, reloaded=False):
        return
    for item in ws:
        if isinstance(item, broadcast.GroupReset):
            if not _send_history(ws, room, sent, reloaded=True):
                return
        elif isinstance(item, broadcast.GroupMessage):
            if _message_id(item) in sent:
                continue  # already sent as part of the history
            ws.forward(item)  # with its position, for a client that resumes
        elif isinstance(item, str):
            _receive(ws, room, item)
        else:
            _error(ws, {"__all__": ["Send chat messages as JSON text, not binary."]})


def _send_history(ws: WebSocket, room: str, sent: set[Any], *, reloaded: bool) -> bool:
    """Send the room's recent messages; return False if the database failed (closed 1011)."""
    try:
        recent = history(room)
    except DatabaseError:
        logger.exception("Cannot read the chat history of room %r", room)
        ws.close(CloseCode.INTERNAL_ERROR, "chat history unavailable: run manage.py migrate")
        return False
    sent.update(m.id for m in recent)
    messages = [m.as_json() for m in recent]
    ws.send_json({"type": "history", "room": room, "messages": messages, "reloaded": reloaded})
    return True


def _receive(ws: WebSocket, room: str, text: str) -> None:
    """Validate one client message; post it, or tell the client what is wrong."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        _error(ws, {"__all__": ['Send a JSON object: {"name": ..., "color": ..., "text": ...}.']})
        return
    client_id = data.get("client_id")
    if client_id is not None and not (
        isinstance(client_id, str) and len(client_id) <= CLIENT_ID_MAX_LENGTH
    ):
        problem = f"A client_id is a string of at most {CLIENT_ID_MAX_LENGTH} characters."
        _error(ws, {"client_id": [problem]})
        return
    form = ChatMessageForm(data)
    if not form.is_valid():
        errors = {field: [str(m) for m in messages] for field, messages in form.errors.items()}
        _error(ws, errors, client_id)
        return
    message = store(room, form)
    try:
        broadcast.publish(group_name(room), message)
    except broadcast.PublishError:
        # Stored, so newcomers will see it, but not delivered live: say so
        # rather than closing the connection over a backend outage.
        logger.exception("Cannot publish a chat message to room %r", room)
        stored = message["id"] is not None
        if stored and client_id is not None:
            _ack(ws, client_id, message)
        if stored:
            _error(ws, {"__all__": ["Your message was saved but could not be delivered now."]})
        else:
            _error(ws, {"__all__": ["Your message could not be delivered now."]}, client_id)
        return
    if client_id is not None:
        # Sent before this view relays the room's copy of the message: the
        # sender learns that its message was accepted first.
        _ack(ws, client_id, message)


def _ack(ws: WebSocket, client_id: str, message: dict[str, Any]) -> None:
    ws.send_json({"type": "ack", "client_id": client_id, "message": message})


def _message_id(item: broadcast.GroupMessage) -> Any:
    """Return the id of a published chat message (None if it has none)."""
    data = item.data if item.kind == "json" else None
    return data.get("id") if isinstance(data, dict) else None
