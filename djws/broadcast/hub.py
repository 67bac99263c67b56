"""The broadcast side of one server process: who joined which group, and fan-out.

Each gunicorn worker has one :data:`hub`. It maps group names to the local
connections that joined them, tells the backend to subscribe when a group gets
its first local member and to unsubscribe when it loses its last, and delivers
what the backend receives:

* to connections that joined with ``forward=True`` (the default), the message is
  framed **once** and the same bytes queued on every uncompressed socket with
  ``send_nowait`` -- a slow client is closed (1008) instead of delaying the rest;
* to connections that joined with ``forward=False``, a :class:`GroupMessage` is
  handed to the view's next ``receive()``.

Users and sessions are groups too, with reserved names (``djws.user.<pk>``,
``djws.session.<key>``) that a connection enters when it opens. Who it is
(:func:`identify`) is read from the request *before* the 101, so a failing
session or user lookup is still an HTTP 500; the connection is attached
(:meth:`Hub.attach`) right after. Their messages share one backend channel per
process (:data:`TARGETS`), so opening a connection costs no round trip to
Redis or PostgreSQL.

The hub owns all of this state: a connection only knows the hub it is attached
to, and :meth:`Hub.forget` (called when its view has finished) removes every
trace of it.

Everything here runs in the worker's greenlets; nothing blocks except waiting
for the backend to confirm a new subscription.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from typing import TYPE_CHECKING, Any, NamedTuple

from ..protocol.frames import encode_frame
from .backends import get_backend, set_receiver
from .message import GroupMessage, opcode_of, split_envelope

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..connection import WebSocket
    from .backends.base import Backend

__all__ = [
    "RESERVED_PREFIX",
    "SESSION_PREFIX",
    "TARGETS",
    "USER_PREFIX",
    "Hub",
    "Identity",
    "Member",
    "check_group",
    "hub",
    "identify",
    "session_group",
    "user_group",
]

logger = logging.getLogger("djws.broadcast")

#: Group names starting with this are djws's own: a view may not join them.
RESERVED_PREFIX = "djws."
USER_PREFIX = "djws.user."
SESSION_PREFIX = "djws.session."
#: The one backend channel carrying every user- and session-targeted message.
TARGETS = "djws.targets"
MAX_GROUP_LENGTH = 256
#: Seconds join() waits for the backend to confirm a new subscription.
SUBSCRIBE_TIMEOUT = 5.0


def check_group(group: Any, *, joining: bool = False) -> None:
    """Raise ValueError unless ``group`` is a valid group name.

    Joining a reserved name is refused: group names are often built from
    client input (``ws.join(f"room-{name}")``), and ``djws.user.42`` would
    otherwise let any client read user 42's private messages.
    """
    if not isinstance(group, str) or not group:
        raise ValueError(f"a group name is a non-empty str, not {group!r}")
    if len(group) > MAX_GROUP_LENGTH:
        raise ValueError(
            f"a group name is at most {MAX_GROUP_LENGTH} characters: {group[:40]!r}..."
        )
    if joining and group.startswith(RESERVED_PREFIX):
        raise ValueError(
            f"group names starting with {RESERVED_PREFIX!r} are reserved for djws; "
            "a connection is in its user's and session's groups already "
            "(broadcast.send_to_user / send_to_session)"
        )


def user_group(pk: Any) -> str:
    """The internal group of every connection of the user with primary key ``pk``."""
    return f"{USER_PREFIX}{pk}"


def session_group(session_key: str) -> str:
    """The internal group of every connection opened with session ``session_key``."""
    return f"{SESSION_PREFIX}{session_key}"


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


def identify(request: HttpRequest) -> Identity:
    """Read who makes ``request``: its authenticated user and session, where it has them.

    This costs the session and user queries if the view has not made them yet.
    """
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    user = getattr(request, "user", None)
    pk = _json_pk(user.pk) if user is not None and user.is_authenticated else None
    return Identity(pk, session_key or None)


class Member:
    """The broadcast state of one connection: its id, identity and groups."""

    __slots__ = ("__weakref__", "groups", "id", "identity")

    def __init__(self, identity: Identity) -> None:
        #: Identifies the connection in presence entries.
        self.id = secrets.token_hex(8)
        self.identity = identity
        #: Groups joined by the view: name -> forward.
        self.groups: dict[str, bool] = {}


def _json_pk(pk: Any) -> Any:
    return pk if isinstance(pk, (int, str)) else str(pk)


class Hub:
    """Local group membership and message fan-out for one process."""

    def __init__(self) -> None:
        #: group name -> {connection: forward}
        self.groups: dict[str, dict[WebSocket, bool]] = {}
        #: The broadcast state of every attached connection.
        self.members: dict[WebSocket, Member] = {}
        self._targets_backend: Backend | None = None
        self._worker: tuple[int, str] | None = None

    @property
    def worker_id(self) -> str:
        """``host:pid:token`` -- names this process in presence entries.

        The token tells apart two processes that got the same pid (a restart
        within the presence TTL); computed after fork, never inherited.
        """
        pid = os.getpid()
        if self._worker is None or self._worker[0] != pid:
            self._worker = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(3)}")
        return self._worker[1]

    def backend(self) -> Backend:
        """This process's backend (it delivers what it receives to this hub)."""
        return get_backend()

    # Connections

    def attach(self, ws: WebSocket, identity: Identity) -> None:
        """Own ``ws``'s memberships from now on; put it in its user's and session's groups.

        Called once the connection is accepted, in the view's greenlet.
        """
        self.members[ws] = Member(identity)
        ws.attach_groups(self)
        targets = identity.targets
        if not targets:
            return
        for target in targets:
            self.groups.setdefault(target, {})[ws] = True
        backend = self.backend()
        if self._targets_backend is not backend:
            self._targets_backend = backend
            backend.subscribe(TARGETS)
        backend.wait_subscribed(TARGETS, SUBSCRIBE_TIMEOUT)

    def join(self, ws: WebSocket, group: str, *, forward: bool = True) -> None:
        """Add ``ws`` to ``group``; return once the backend is subscribed to it."""
        check_group(group, joining=True)
        member = self.members[ws]
        backend = self.backend()
        already = group in member.groups
        member.groups[group] = forward
        members = self.groups.get(group)
        if members is None:
            members = self.groups[group] = {}
            members[ws] = forward
            backend.subscribe(group)
        else:
            members[ws] = forward
        if not backend.wait_subscribed(group, SUBSCRIBE_TIMEOUT):
            logger.warning(
                "Group %r: the broadcast backend has not confirmed the subscription yet; "
                "it will be restored when the backend is reachable",
                group,
            )
        if not already:
            backend.presence_add(group, member.id, self.presence_entry(member))

    def leave(self, ws: WebSocket, group: str) -> None:
        """Remove ``ws`` from ``group`` (nothing happens if it was not in it)."""
        member = self.members.get(ws)
        if member is None or group not in member.groups:
            return
        del member.groups[group]
        self._remove(ws, group)
        self.backend().presence_remove(group, member.id)

    def forget(self, ws: WebSocket) -> None:
        """Take a finished connection out of every group, its user's and session's too."""
        member = self.members.get(ws)
        if member is None:
            return
        for target in member.identity.targets:
            members = self.groups.get(target)
            if members is not None:
                members.pop(ws, None)
                if not members:
                    del self.groups[target]
        for group in list(member.groups):
            try:
                self.leave(ws, group)
            except Exception:
                logger.exception("Could not leave group %r for %r", group, ws)
        del self.members[ws]

    def _remove(self, ws: WebSocket, group: str) -> None:
        members = self.groups.get(group)
        if members is None:
            return
        members.pop(ws, None)
        if not members:
            del self.groups[group]
            self.backend().unsubscribe(group)

    def groups_of(self, ws: WebSocket) -> frozenset[str]:
        """The groups ``ws`` joined (not its internal user and session groups)."""
        member = self.members.get(ws)
        return frozenset(member.groups) if member is not None else frozenset()

    # Presence

    def presence_entry(self, member: Member) -> str:
        """The JSON text that stands for ``member`` in a group's presence."""
        return json.dumps(
            {"connection": member.id, "user": member.identity.user, "worker": self.worker_id},
            sort_keys=True,
        )

    def presence_snapshot(self) -> list[tuple[str, str, str]]:
        """Every local ``(group, connection id, entry)``: what a backend restores."""
        snapshot = []
        for group, members in self.groups.items():
            if group.startswith(RESERVED_PREFIX):
                continue
            for ws in members:
                member = self.members.get(ws)
                if member is not None:
                    snapshot.append((group, member.id, self.presence_entry(member)))
        return snapshot

    def local_presence(self, group: str) -> list[dict[str, Any]]:
        """Presence entries of this process's connections in ``group``."""
        return [json.loads(entry) for g, _, entry in self.presence_snapshot() if g == group]

    # Fan-out

    def dispatch(self, group: str, wire: bytes) -> int:
        """Deliver a message received for ``group``; return how many connections got it."""
        if group == TARGETS:
            group, wire = split_envelope(wire)
        members = self.groups.get(group)
        if not members:
            return 0
        opcode = opcode_of(wire)
        payload = wire[1:]
        frame = None
        for ws, forward in list(members.items()):
            if forward:
                if frame is None:
                    frame = encode_frame(opcode, payload)
                ws.send_nowait(opcode, payload, frame=frame)
            else:
                ws.deliver(GroupMessage(group, wire))
        return len(members)


#: The hub of this process.
hub = Hub()
set_receiver(hub)
