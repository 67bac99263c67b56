"""Who a connection is, and what the hub keeps about it.

:func:`identify` reads, from the request and *before* the 101, the user and
session that ``send_to_user`` and ``send_to_session`` target: a failing session
or user lookup is then still an HTTP 500. :func:`client_options` reads what a
client asked of the broadcast layer in the query string: ``djws=1`` (djws.js,
or any client that wants positions: group messages come in JSON envelopes),
``djws-since`` (the positions to resume from, as a JSON object
``{"group": "epoch:offset"}``) and ``djws-html=1`` (a page that swaps in HTML:
it gets the HTML version of messages published with one, :mod:`.tailor`).
:class:`Member` is the hub's record of one attached connection.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..protocol.frames import Outgoing
from .names import session_group, user_group
from .position import Position

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = [
    "ENVELOPE_PARAM",
    "HTML_PARAM",
    "SINCE_PARAM",
    "ClientOptions",
    "Identity",
    "Joined",
    "Member",
    "Subscriber",
    "client_options",
    "identify",
    "worker_id",
]

logger = logging.getLogger("djws.broadcast")

#: Query parameters a client uses to ask for positions, and to resume from them.
ENVELOPE_PARAM = "djws"
SINCE_PARAM = "djws-since"
#: The query parameter of a client that renders HTML (htmx, Turbo): ``djws-html=1``.
HTML_PARAM = "djws-html"


class Identity(NamedTuple):
    """Who opened a connection: what ``send_to_user`` and ``send_to_session`` target."""

    #: The authenticated user's pk (JSON-friendly), or None.
    user: Any
    #: The session key of the request's cookie, or None.
    session_key: str | None

    @property
    def targets(self) -> list[str]:
        """The internal groups a connection of this identity is in."""
        targets = []
        if self.session_key:
            targets.append(session_group(self.session_key))
        if self.user is not None:
            targets.append(user_group(self.user))
        return targets


def _json_pk(pk: Any) -> Any:
    return pk if isinstance(pk, (int, str)) else str(pk)


def identify(request: HttpRequest) -> Identity:
    """Read who makes ``request``: its authenticated user and session, where it has them.

    This costs the session and user queries if the view has not made them yet.
    """
    user = getattr(request, "user", None)
    pk = _json_pk(user.pk) if user is not None and user.is_authenticated else None
    session = getattr(request, "session", None)
    if session is not None:
        session.keys()  # loaded: a cookie whose session is gone (logged out) then has no key
    session_key = getattr(session, "session_key", None)
    return Identity(pk, session_key or None)


class ClientOptions(NamedTuple):
    """What a client asked of the broadcast layer in its query string."""

    #: Group messages in JSON envelopes with their positions (``djws=1``).
    envelope: bool = False
    #: Where it resumes from, by group (``djws-since``).
    since: dict[str, Position] = {}
    #: It swaps in HTML: it gets the HTML version of messages that have one (``djws-html=1``).
    html: bool = False


def client_options(request: HttpRequest | None) -> ClientOptions:
    """Whether the client wants envelopes with positions, where it resumes from, and
    whether it renders HTML.

    A malformed ``djws-since`` is ignored with a warning: the client then gets
    no replay, and ``recovered`` is None (it did not resume).
    """
    if request is None or ENVELOPE_PARAM not in request.META.get("QUERY_STRING", ""):
        return ClientOptions()  # every parameter's name starts with it: no query to parse
    envelope = request.GET.get(ENVELOPE_PARAM) == "1"
    html = request.GET.get(HTML_PARAM) == "1"
    raw = request.GET.get(SINCE_PARAM)
    if not envelope or not raw:
        return ClientOptions(envelope, {}, html)
    try:
        since = {str(g): Position.parse(p) for g, p in json.loads(raw).items()}
    except (ValueError, AttributeError, TypeError):
        logger.warning("Ignoring a malformed %s parameter: %.200r", SINCE_PARAM, raw)
        return ClientOptions(envelope, {}, html)
    return ClientOptions(envelope, since, html)


_worker: tuple[int, str] | None = None


def worker_id() -> str:
    """``host:pid:token`` -- names this process in presence entries.

    The token tells apart two processes that got the same pid (a restart
    within the presence TTL); computed after fork, never inherited.
    """
    global _worker
    pid = os.getpid()
    if _worker is None or _worker[0] != pid:
        _worker = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(3)}")
    return _worker[1]


class Member:
    """The hub's record of one attached connection."""

    __slots__ = (
        "__weakref__",
        "envelope",
        "expires",
        "groups",
        "html",
        "id",
        "identity",
        "opened",
        "since",
    )

    def __init__(
        self,
        identity: Identity,
        envelope: bool = False,
        since: dict[str, Position] | None = None,
        expires: float | None = None,
        html: bool = False,
    ) -> None:
        #: Identifies the connection in presence entries.
        self.id = secrets.token_hex(8)
        self.identity = identity
        #: When it was attached (Unix time): close orders issued before it concern it.
        self.opened = time.time()
        #: When its session expires (Unix time), if it has one to watch.
        self.expires = expires
        #: Whether group messages reach the client in JSON envelopes with positions.
        self.envelope = envelope
        #: Positions the client asked to resume from, by group (used by its next join).
        self.since = since or {}
        #: Whether the client swaps in HTML: it gets the HTML version of a message.
        self.html = html
        #: Groups joined by the view: name -> forward.
        self.groups: dict[str, bool] = {}

    def presence_entry(self, worker: str) -> str:
        """The JSON text that stands for this connection in a group's presence."""
        return json.dumps(
            {"connection": self.id, "user": self.identity.user, "worker": worker}, sort_keys=True
        )


class Subscriber(Protocol):
    """What the hub needs of a member: a WebSocket, or an event stream (:mod:`djws.eventstream`)."""

    request: Any

    @property
    def closed(self) -> bool: ...
    def close(self, code: int = ..., reason: str = ...) -> None: ...
    def deliver(self, item: Any) -> None: ...
    def send_nowait(self, opcode: int, payload: bytes, frame: bytes | None = ...) -> bool: ...
    def send_many_nowait(self, messages: Sequence[Outgoing]) -> bool: ...


class Joined(NamedTuple):
    """What ``ws.join()`` returns: where the connection stands, and whether it resumed."""

    #: The position of the last message of the group the connection has (or skipped).
    position: Position
    #: None: no position to resume from was given; True: everything after it was
    #: replayed; False: it could not be (too old, or another epoch) -- reload state.
    recovered: bool | None
    #: Messages replayed from the history.
    replayed: int = 0
