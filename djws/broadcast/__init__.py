"""Broadcast: send to groups of WebSockets from any synchronous code, in any process.

::

    from djws import broadcast

    broadcast.publish("room-42", {"text": "hello"})   # a view, a command, Celery, the shell
    broadcast.send_to_user(request.user, "you have mail")
    broadcast.send_to_session(request.session.session_key, "saved")
    broadcast.close_user(user, code=4001, reason="account suspended")

    @websocket
    def room(request, ws, name):
        ws.join(f"room-{name}")            # published messages go straight to the client
        for message in ws:
            broadcast.publish(f"room-{name}", message)

``close_user``, ``close_session`` and ``close_group`` close connections the
same way, in every process (:mod:`.orders`); djws itself closes those of a
session that ends (:mod:`djws.sessions`).

A ``str`` is sent as a text frame, ``bytes`` as a binary frame, anything else
as JSON text. ``publish`` returns the message's :class:`Position` once the
backend has stored it, and raises :class:`PublishError` when it cannot --
never a silent "sent". Inside ``transaction.atomic()`` it waits for the commit
instead, and returns None (:mod:`.commit`): a rolled-back transaction publishes
nothing. ``html=`` gives pages that swap in HTML (htmx, Turbo: their clients
say ``djws-html=1``) a version of their own, rendered once or per user
(:class:`djws.live.PerUser`); other clients get ``message`` (:mod:`.tailor`).

``WEBSOCKET_BROADCAST_URL`` chooses where messages travel: ``local://`` (the
default: the ``runwebsocket`` processes of this machine), ``memory://`` (this
process only), ``redis://...`` (across workers and machines) or
``postgresql://...`` / ``database://default`` (LISTEN/NOTIFY). Every group keeps
a bounded history; a message that ``publish`` returned for reaches every
member, once and in order, through backend restarts and reconnections, and
clients resume from their positions (``docs/topics/broadcast.rst`` states the
guarantee case by case).

The pieces, in the order a message goes through them: :mod:`.message` (wire
format), :mod:`.commit` (waiting for the transaction), :mod:`.outbox` (what a
commit published while the backend failed), :mod:`.position` (positions and
history slices), :mod:`.backends`
(numbering, history and transport between processes), :mod:`.hub` (the groups
of one worker: ordering and gap filling), :mod:`.group` (one group's members and
the fan-out, one frame for all recipients, :mod:`.framed`), :mod:`.members` and
:mod:`.names` (who a connection is, group names).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS

from ..protocol.frames import valid_close_code
from ..protocol.protocol import MAX_REASON_BYTES
from .backends import get_backend
from .commit import defer, in_transaction
from .exceptions import BroadcastError, HistoryError, PresenceError, PublishError
from .members import Joined
from .message import GroupMessage, GroupReset, alternatives, encode, with_target
from .names import RESERVED_PREFIX, TARGETS, check_group, session_group, user_group
from .orders import CLOSE, Order, send_order
from .outbox import outbox
from .position import Position, read_since

__all__ = [
    "BroadcastError",
    "GroupMessage",
    "GroupReset",
    "History",
    "HistoryError",
    "Joined",
    "Position",
    "PresenceError",
    "PublishError",
    "close_group",
    "close_session",
    "close_user",
    "history",
    "presence",
    "publish",
    "send_to_session",
    "send_to_user",
]


class _Nothing:
    def __repr__(self) -> str:
        return "<no message>"


#: ``message`` left out: with ``html=``, only pages that swap in HTML get something.
NOTHING: Any = _Nothing()


def _wire(message: Any, html: Any) -> bytes:
    """The wire bytes of ``message``, and of ``html`` for pages that render HTML."""
    if html is None:
        if message is NOTHING:
            raise TypeError("publish() needs a message, html=..., or both")
        return encode(message)
    if not isinstance(html, str) and not callable(getattr(html, "djws_wire", None)):
        raise TypeError(
            f"html= is a str, or djws.live.per_user(...) to render it per user, not {html!r}"
        )
    other = None if message is NOTHING else encode(message)
    return alternatives(encode(html), other)


def publish(
    group: str,
    message: Any = NOTHING,
    *,
    html: Any = None,
    using: str | None = None,
    on_commit: bool = True,
) -> Position | None:
    """Send ``message`` to every connection, in every process, that joined ``group``.

    ``str``: a text frame; ``bytes``: a binary frame; anything else: JSON text
    (Django's JSON encoder: dates, decimals and UUIDs work);
    :func:`djws.live.per_user`: a template each worker renders for each member's
    user. ``html``, if given, is what pages that swap in HTML get instead (a
    ``str`` or ``per_user(...)``); ``message`` then reaches only the other
    clients, and may be left out. Safe from any thread or greenlet. Return the
    message's position once the backend has stored it; raise
    :class:`PublishError` if it could not: the message was not sent.

    Inside ``transaction.atomic()`` on ``DATABASES[using]`` (``"default"``
    unless given), the message is sent when the transaction commits, and never
    if it (or the savepoint around the call) rolls back; ``publish`` then
    returns None, as the position does not exist yet. If the backend fails at
    commit time, the message waits in this process's outbox and is retried
    (:mod:`.outbox`). ``on_commit=False`` sends at once, even inside a
    transaction (a progress report, say).
    """
    check_group(group)
    return _publish(group, _wire(message, html), group, using, on_commit)


def send_to_user(
    user: Any,
    message: Any = NOTHING,
    *,
    html: Any = None,
    using: str | None = None,
    on_commit: bool = True,
) -> Position | None:
    """Send ``message`` to every open connection of ``user`` (a user, or its pk).

    A connection belongs to the user authenticated (``request.user``) when it
    opened. ``html``: as for :func:`publish` -- the user's pages get it, the
    user's other clients (an app's JSON) ``message``. Wait for the commit,
    return and raise like :func:`publish`.
    """
    target = _user_target(user, "send_to_user")
    return _publish(TARGETS, with_target(target, _wire(message, html)), target, using, on_commit)


def send_to_session(
    session_key: str,
    message: Any = NOTHING,
    *,
    html: Any = None,
    using: str | None = None,
    on_commit: bool = True,
) -> Position | None:
    """Send ``message`` to every open connection opened with this session cookie.

    ``html`` as for :func:`publish`. Wait for the commit, return and raise like
    :func:`publish`.
    """
    target = _session_target(session_key, "send_to_session")
    return _publish(TARGETS, with_target(target, _wire(message, html)), target, using, on_commit)


def _user_target(user: Any, caller: str) -> str:
    pk = getattr(user, "pk", user)
    if pk is None:
        raise ValueError(f"{caller}() needs a saved user or a primary key, not None")
    return user_group(pk)


def _session_target(session_key: Any, caller: str) -> str:
    if not isinstance(session_key, str) or not session_key:
        raise ValueError(f"{caller}() needs a session key, not {session_key!r}")
    return session_group(session_key)


def _publish(
    channel: str, wire: bytes, group: str, using: str | None, on_commit: bool
) -> Position | None:
    """Publish ``wire`` on the backend's ``channel`` now, or when the transaction commits."""
    if on_commit and in_transaction(using):
        alias = using or DEFAULT_DB_ALIAS
        if get_backend().publish_in_transaction(channel, wire, alias):
            defer(group, None, alias)  # the transaction carries it
        else:
            defer(group, lambda: outbox.publish(get_backend(), channel, wire, group), alias)
        return None
    if len(outbox):
        outbox.flush()  # what earlier commits published goes first
    return get_backend().publish(channel, wire)


def close_user(user: Any, *, code: int = 1000, reason: str = "") -> Position:
    """Close every open connection of ``user`` (a user, or its pk), in every process.

    WebSockets get a close frame with ``code`` and ``reason``; event streams
    end. The order travels like a message (:mod:`.orders`) but is never sent
    to a client, nor counted in any group's positions. Return its position
    once the backend has stored it; raise :class:`PublishError` if it could
    not, and ValueError for a code or reason a close frame cannot carry.
    """
    return _close(_user_target(user, "close_user"), code, reason)


def close_session(session_key: str, *, code: int = 1000, reason: str = "") -> Position:
    """Close every open connection opened with this session, in every process.

    As :func:`close_user`.
    """
    return _close(_session_target(session_key, "close_session"), code, reason)


def close_group(group: str, *, code: int = 1000, reason: str = "") -> Position:
    """Close every open connection that joined ``group``, in every process.

    As :func:`close_user`.
    """
    check_group(group)
    if group.startswith(RESERVED_PREFIX):
        raise ValueError(f"{group!r} is reserved: use close_user() or close_session()")
    return _close(group, code, reason)


def _close(target: str, code: int, reason: str) -> Position:
    if not isinstance(code, int) or not valid_close_code(code):
        raise ValueError(
            f"{code!r} cannot be sent in a close frame: use 1000-1003, 1007-1014 or 3000-4999"
        )
    if len(reason.encode()) > MAX_REASON_BYTES:
        raise ValueError(f"a close reason is at most {MAX_REASON_BYTES} bytes of UTF-8")
    return send_order(Order(CLOSE, target, code, reason, time.time()))


class History(NamedTuple):
    """What :func:`history` returns."""

    #: The position of the group's last message.
    position: Position
    #: The stored messages after ``since`` (or all that are kept), oldest first.
    messages: list[GroupMessage]
    #: Whether ``messages`` is everything published after ``since``: False when the
    #: history no longer reaches back that far, or ``since`` is of a lost stream.
    complete: bool


def history(group: str, since: Position | str | None = None) -> History:
    """Read ``group``'s stored messages after ``since``: for late joiners and reloaded pages.

    Without ``since``, everything the history still holds. Raise
    :class:`HistoryError` if the backend is unreachable.
    """
    check_group(group)
    if isinstance(since, str):
        since = Position.parse(since)
    backend = get_backend()
    stored = read_since(lambda after: backend.read(group, after), since)
    messages = [
        GroupMessage(group, entry.wire, Position(stored.epoch, entry.offset))
        for entry in stored.entries
    ]
    complete = stored.covers(since if since is not None else Position(stored.epoch, 0))
    return History(stored.position, messages, complete)


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
