"""One group as a worker holds it: its local members, its cursor, and the fan-out.

The hub (:mod:`.hub`) keeps a :class:`Group` for every group with a local
member, or a join in progress: who is in it and how each receives (:class:`How`),
the position of the last message delivered here (the *cursor*), the live
messages held back for members reading the history, the members whose
replay went past the live stream, and the last messages delivered, for the
members that resume from among them (:mod:`.recent`; :meth:`Group.missed`).
:meth:`Group.deliver` sends one message to every member; every copy comes
from the process's
:class:`~.framed.FrameCache`, so a message is framed once however many
members get it (a connection that compresses frames its own: that is the
protocol's decision, :meth:`djws.protocol.protocol.ServerProtocol.send_message`).
A message that differs per member (HTML or not, rendered per user) is tailored
first (:mod:`.tailor`), and framed once per version.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import metrics
from ..protocol.frames import OP_TEXT
from .exceptions import HistoryError
from .framed import FrameCache
from .members import Joined, Subscriber
from .message import GroupMessage, GroupReset, joined_envelope, reset_envelope
from .position import Position, read_since
from .recent import Recent
from .tailor import Tailor

if TYPE_CHECKING:
    from .backends.base import Backend

__all__ = ["LOST_CODE", "Group", "How", "Tailors", "lost_reason"]

logger = logging.getLogger("djws.broadcast")

#: What the hub passes to build the :class:`~.tailor.Tailor` of a wire (None: same for all).
Tailors = Callable[[bytes], "Tailor | None"]

# Messages per write when a member is sent what it missed.
_BATCH = 64


class How(enum.IntEnum):
    """How a member receives a group's messages."""

    #: As :class:`~.message.GroupMessage` objects from the view's ``receive()``.
    DELIVER = 0
    #: Straight to the client, as published.
    FORWARD = 1
    #: Straight to the client, in a JSON envelope with the position (djws.js).
    ENVELOPE = 2


class Group:
    """What this process holds of one group."""

    __slots__ = ("ahead", "cursor", "held", "members", "name", "recent")

    def __init__(self, name: str) -> None:
        self.name = name
        #: The local members, and how each receives.
        self.members: dict[Subscriber, How] = {}
        #: The position of the last message delivered here, once known.
        self.cursor: Position | None = None
        #: Members reading the history as they join: the live messages held back.
        self.held: dict[Subscriber, list[tuple[Position, bytes]]] = {}
        #: Members whose replay went past the live stream: the last position each has.
        self.ahead: dict[Subscriber, Position] = {}
        #: The last messages delivered here, for members resuming from among them.
        self.recent: Recent | None = None

    @property
    def empty(self) -> bool:
        """No member and no join in progress: the hub may forget it."""
        return not self.members and not self.held

    def deliver(
        self, position: Position, wire: bytes, framed: FrameCache, tailor: Tailor | None = None
    ) -> None:
        """Move the cursor to ``position`` and send the message to every member."""
        self.cursor = position
        if self.recent is not None and not self.recent.add(position, wire):
            self.recent = None
        for held in self.held.values():
            held.append((position, wire))
        self.fan_out(self.name, position, wire, framed, tailor)

    def fan_out(
        self,
        name: str,
        position: Position,
        wire: bytes,
        framed: FrameCache,
        tailor: Tailor | None = None,
    ) -> None:
        """Send ``wire`` (of group ``name``, at ``position``) to every member, once.

        With a ``tailor``, each member gets its own version of it, or nothing.
        """
        ahead = self.ahead
        outgoing: dict[tuple[bool, str], Any] = {}
        variant = ""
        for ws, how in list(self.members.items()):
            if ahead and ws in ahead:
                if position.epoch == ahead[ws].epoch and position <= ahead[ws]:
                    continue  # replayed to it from the history already
                del ahead[ws]
            own = wire
            if tailor is not None:
                tailored = tailor.wire_for(ws)
                if tailored is None:
                    continue  # nothing in this message is for this member
                variant, own = tailored
            if how == How.DELIVER:
                ws.deliver(GroupMessage(name, own, position))
                continue
            enveloped = how == How.ENVELOPE
            message = outgoing.get((enveloped, variant))
            if message is None:
                message = outgoing[enveloped, variant] = framed.get(
                    name, position, own, enveloped=enveloped, variant=variant
                )
            ws.send_nowait(*message)

    def missed(
        self, since: Position | None, backend: Backend
    ) -> tuple[Joined, list[tuple[Position, bytes]]]:
        """Where a member joining from ``since`` stands, and what it missed since then:
        from the messages delivered here lately if they hold all of it, else from
        ``backend``'s history."""
        cursor = self.cursor or Position("", 0)
        if since is None:
            return Joined(cursor, None), []
        recent = self.recent
        if recent is not None and recent.last == self.cursor:
            kept = recent.since(since)
            if kept is not None:  # all of it delivered here lately: no read
                metrics.replayed(len(kept))
                return Joined(recent.last, True, len(kept)), kept
        try:
            history = read_since(lambda after: backend.read(self.name, after), since)
        except HistoryError as exc:
            logger.warning("Cannot resume group %r from %s: %s", self.name, since, exc)
            return Joined(cursor, False), []
        if not history.covers(since):
            return Joined(history.position, False), []
        metrics.replayed(len(history.entries))
        missed = [(Position(history.epoch, entry.offset), entry.wire) for entry in history.entries]
        recent = self.recent
        if (
            history.position == self.cursor
            and since.epoch == history.epoch
            and (recent is None or since.offset < recent.after.offset)
        ):
            # The read ends where the live stream is: the group's next resumes from
            # here on are answered by this worker (a restart brings them all at once).
            self.recent = Recent.of(since, missed) or self.recent
        return Joined(history.position, True, len(missed)), missed

    def send_missed(
        self,
        ws: Subscriber,
        how: How,
        joined: Joined,
        messages: list[tuple[Position, bytes]],
        replayed: int,
        framed: FrameCache,
        tailors: Tailors,
    ) -> None:
        """Send ``messages``, with where ``ws`` stands after the first ``replayed`` of them."""
        own: list[tuple[Position, bytes, str]] = []
        from_history = replayed
        for index, (pos, wire) in enumerate(messages):
            tailor = tailors(wire)
            tailored = ("", wire) if tailor is None else tailor.wire_for(ws)
            if tailored is not None:
                own.append((pos, tailored[1], tailored[0]))
            elif index < from_history:
                replayed -= 1  # not for this member: where it stands comes one earlier
        if how == How.DELIVER:
            items: list[Any] = [GroupMessage(self.name, wire, pos) for pos, wire, _ in own]
            if joined.recovered is False:
                items.insert(replayed, GroupReset(self.name, joined.position))
            for item in items:
                ws.deliver(item)
            return
        enveloped = how == How.ENVELOPE
        out = [
            framed.get(self.name, pos, wire, enveloped=enveloped, variant=variant)
            for pos, wire, variant in own
        ]
        if enveloped:
            envelope = joined_envelope(self.name, joined.position, joined.recovered)
            out.insert(replayed, (OP_TEXT, envelope, None))
        # In writes of a few messages: a resume is one system call, not one per message.
        for start in range(0, len(out), _BATCH):
            ws.send_many_nowait(out[start : start + _BATCH])

    def reset(self, position: Position) -> None:
        """Tell the members that messages before ``position`` were lost; go on from there.

        A member that receives plain messages has no position to be told of: it
        is closed (:data:`LOST_CODE`), so that it reconnects and reloads.
        """
        self.cursor = Position(position.epoch, max(position.offset - 1, 0))
        self.recent = None
        for ws, how in list(self.members.items()):
            if how == How.ENVELOPE:
                ws.send_nowait(OP_TEXT, reset_envelope(self.name, position))
            elif how == How.DELIVER:
                ws.deliver(GroupReset(self.name, position))
            else:
                ws.close(LOST_CODE, lost_reason(self.name))


#: The close code of a member that receives plain messages when some were lost
#: (IANA's "Service Restart": reconnect).
LOST_CODE = 1012


def lost_reason(group: str) -> str:
    """The close reason for :data:`LOST_CODE`: at most 123 bytes, as RFC 6455 allows."""
    reason = f"messages of group {group!r} were lost: reconnect and reload"
    if len(reason.encode()) <= 123:
        return reason
    return "messages of a group were lost: reconnect and reload"
