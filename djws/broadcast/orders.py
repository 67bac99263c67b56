"""Orders to close connections, and how a process carries them out.

:func:`djws.broadcast.close_user`, ``close_session`` and ``close_group``
publish an :class:`Order`; so does djws itself when a session ends
(:mod:`djws.sessions`). Orders travel through the backend like messages, on a
channel of their own (:data:`~.names.CLOSES`): every process receives them, in
the order they were published, and one published while a worker was cut off
from the backend is read from the history when it reconnects. They are never
sent to a client, and they take no position in any group: a client resuming a
group sees the same offsets whether or not connections were closed meanwhile.

An order names a *target* -- a group, or the internal group of a user or a
session (:mod:`.names`) -- and one of three actions:

``close``
    close every local connection of the target with the order's code and
    reason (a WebSocket with that close frame; an event stream ends);
``rename``
    the session's key changed (Django cycles it at login and in
    ``update_session_auth_hash``): its connections now belong to the new key;
``verify``
    ask the process's session checker (:attr:`djws.broadcast.hub.Hub.verifier`)
    to check the session of each of the target's connections again: it closes
    those whose session ended or whose password hash no longer matches.

An order reaches the connections that were open when it was issued. One that
a worker reads late -- from the history, after a reconnection -- leaves alone
the connections opened after it was issued (hosts' clocks are taken to agree
within :data:`ORDER_SLACK` seconds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .backends import get_backend
from .group import Group
from .members import Member, Subscriber
from .names import CLOSES, SESSION_PREFIX
from .position import Position

__all__ = [
    "CLOSE",
    "ORDER_SLACK",
    "RENAME",
    "VERIFY",
    "Order",
    "Verifier",
    "carry_out",
    "send_order",
]

logger = logging.getLogger("djws.broadcast")

CLOSE = "close"
RENAME = "rename"
VERIFY = "verify"
#: Seconds by which a connection may have opened after an order was issued and still
#: be closed by it: the tolerance for clocks of different hosts.
ORDER_SLACK = 1.0

#: What checks a connection's session again: ``(connection, reason)``.
Verifier = Callable[[Subscriber, str], None]


@dataclass(frozen=True)
class Order:
    """One order to the connections of ``target``."""

    action: str
    #: A group name (for users and sessions, their internal group's).
    target: str
    code: int = 1000
    reason: str = ""
    #: When it was issued (Unix time, the publisher's clock).
    issued: float = 0.0
    #: For :data:`RENAME`: the session's new internal group.
    to: str = ""

    def encode(self) -> bytes:
        """The wire bytes of this order (a JSON message, :mod:`.message`)."""
        return b"j" + json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, wire: bytes) -> Order:
        """Read an order from :meth:`encode`'s bytes; raise ValueError if it is not one."""
        try:
            fields = json.loads(wire[1:])
            order = cls(**fields)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a djws close order: {bytes(wire[:40])!r}") from exc
        if order.action not in (CLOSE, RENAME, VERIFY):
            raise ValueError(f"unknown close order {order.action!r}")
        return order


def send_order(order: Order) -> Position:
    """Publish ``order`` to every process; raise ``PublishError`` if it was not stored."""
    return get_backend().publish(CLOSES, order.encode())


def carry_out(
    wire: bytes,
    groups: dict[str, Group],
    members: dict[Subscriber, Member],
    verify: Verifier | None,
) -> None:
    """Carry the order in ``wire`` out on this process's connections.

    ``groups`` and ``members`` are the hub's; a message that is no order is logged.
    """
    try:
        order = Order.decode(wire)
    except ValueError:
        logger.exception("Ignoring a message that is no close order")
        return
    if order.action == RENAME:
        _rename(order, groups, members)
        return
    record = groups.get(order.target)
    if record is None:
        return
    # Members joining right now (reading the history) are members too.
    for ws in list(dict.fromkeys([*record.members, *record.held])):
        member = members.get(ws)
        if member is None or member.opened > order.issued + ORDER_SLACK:
            continue  # opened after the order was issued: not meant
        if order.action == VERIFY:
            if verify is not None:
                verify(ws, order.reason)
        elif not ws.closed:
            try:
                ws.close(order.code, order.reason)
            except Exception:
                logger.exception("Could not close %r as ordered (%s)", ws, order.reason)


def _rename(order: Order, groups: dict[str, Group], members: dict[Subscriber, Member]) -> None:
    old = groups.get(order.target)
    if old is None or not order.to.startswith(SESSION_PREFIX):
        return
    new = groups.get(order.to)
    if new is None:
        new = groups[order.to] = Group(order.to)
    key = order.to[len(SESSION_PREFIX) :]
    for ws, how in list(old.members.items()):
        member = members.get(ws)
        if member is not None:
            member.identity = member.identity._replace(session_key=key)
        new.members[ws] = how
        del old.members[ws]
    if old.empty:
        del groups[order.target]
