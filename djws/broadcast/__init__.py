"""Broadcast: send to groups of WebSockets from any synchronous code, in any process.

::

    from djws import broadcast

    broadcast.publish("room-42", {"text": "hello"})   # a view, a command, Celery, the shell
    broadcast.send_to_user(request.user, "you have mail")
    broadcast.send_to_session(request.session.session_key, "saved")

    @websocket
    def room(request, ws, name):
        ws.join(f"room-{name}")            # published messages go straight to the client
        for message in ws:
            broadcast.publish(f"room-{name}", message)

A ``str`` is sent as a text frame, ``bytes`` as a binary frame, anything else
as JSON text. ``publish`` returns once the backend has taken the message and
raises :class:`PublishError` when it cannot -- never a silent "sent".

``WEBSOCKET_BROADCAST_URL`` chooses where messages travel: ``memory://`` (the
default: this process only), ``redis://...`` (across workers and machines) or
``postgresql://...`` / ``database://default`` (LISTEN/NOTIFY). Delivery is at
most once, in publish order for each publisher; see ``docs/topics/broadcast.rst``.

The pieces, in the order a message goes through them: :mod:`.message` (wire
format), :mod:`.backends` (transport between processes), :mod:`.hub` (the
groups of one worker, and fan-out with one frame for all recipients).
"""

from __future__ import annotations

from typing import Any

from .backends import get_backend
from .exceptions import BroadcastError, PresenceError, PublishError
from .hub import TARGETS, check_group, session_group, user_group
from .message import GroupMessage, encode, wrap_envelope

__all__ = [
    "BroadcastError",
    "GroupMessage",
    "PresenceError",
    "PublishError",
    "presence",
    "publish",
    "send_to_session",
    "send_to_user",
]


def publish(group: str, message: Any) -> None:
    """Send ``message`` to every connection, in every process, that joined ``group``.

    ``str``: a text frame; ``bytes``: a binary frame; anything else: JSON text
    (Django's JSON encoder: dates, decimals and UUIDs work). Safe from any
    thread or greenlet. Raise :class:`PublishError` if the backend is
    unreachable: the message was not sent.
    """
    check_group(group)
    get_backend().publish(group, encode(message))


def send_to_user(user: Any, message: Any) -> None:
    """Send ``message`` to every open connection of ``user`` (a user, or its pk).

    A connection belongs to the user authenticated (``request.user``) when it
    opened. Raise :class:`PublishError` like :func:`publish`.
    """
    pk = getattr(user, "pk", user)
    if pk is None:
        raise ValueError("send_to_user() needs a saved user or a primary key, not None")
    _send_to(user_group(pk), message)


def send_to_session(session_key: str, message: Any) -> None:
    """Send ``message`` to every open connection opened with this session cookie.

    Raise :class:`PublishError` like :func:`publish`.
    """
    if not isinstance(session_key, str) or not session_key:
        raise ValueError(f"send_to_session() needs a session key, not {session_key!r}")
    _send_to(session_group(session_key), message)


def _send_to(target: str, message: Any) -> None:
    get_backend().publish(TARGETS, wrap_envelope(target, encode(message)))


def presence(group: str) -> list[dict[str, Any]]:
    """Who is in ``group`` now, on every worker and machine.

    One entry per joined connection: ``{"connection": id, "user": pk or None,
    "worker": "host:pid:token"}``, sorted by worker, then connection. Entries of
    a worker that died without closing its sockets disappear within
    ``WEBSOCKET_BROADCAST_PRESENCE_TTL`` seconds. Raise :class:`PresenceError`
    if the backend is unreachable.
    """
    check_group(group)
    return get_backend().presence(group)
