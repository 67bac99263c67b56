"""The broadcast side of one server process: memberships, ordering, and fan-out.

Each gunicorn worker has one :data:`hub`. It maps group names to the local
connections that joined them, tells the backend to subscribe when a group gets
its first local member and to unsubscribe when it loses its last, and delivers
what the backend receives:

* ``forward=True`` (the default): framed **once** (or once in the JSON envelope
  of clients that asked for positions, :mod:`.members`), queued on every
  socket with ``send_nowait``; a slow client is closed (1008);
* ``forward=False``: a :class:`GroupMessage` for the view's next ``receive()``.

**Nothing published is lost.** The hub keeps, per subscribed group, the
position of the last message it delivered (its *cursor*). A message whose
offset is not the next one means a gap: the missing messages are read from the
backend's history and delivered first, in order; one already seen is dropped.
After the backend reconnects, :meth:`Hub.catch_up` reads everything published
meanwhile before anything live; a new epoch (the backend lost the stream) is
replayed from its start. When the history no longer holds what is missing, or
may not (the lost stream's end), members are told (:meth:`Hub.reset`).

A connection may join **from a position** (``ws.join(group, since=...)``, or
djws.js's ``djws-since``): it gets what it missed from the history, then live
messages, exactly once and in order: live ones are held back while its history
is read, and those it got from a history ahead of this worker are not sent twice
(:meth:`.group.Group.missed`; from what the worker delivered lately: :mod:`.recent`).

Users and sessions are groups too (:mod:`.names`), entered on attach; their
messages share one backend channel per process (:data:`~.names.TARGETS`), and
orders to close connections another (:data:`~.names.CLOSES`, :mod:`.orders`).
What the hub holds of each group is one :class:`~.group.Group`; messages that
differ per member are tailored with its :attr:`Hub.renderer` (:mod:`.tailor`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from .. import metrics
from .backends import get_backend
from .exceptions import HistoryError
from .framed import FrameCache
from .group import Group, How
from .members import Identity, Joined, Member, Subscriber, client_options, worker_id
from .message import split_target
from .names import CLOSES, RESERVED_PREFIX, TARGETS, check_group
from .orders import Verifier, carry_out
from .position import Position, Slice, lost_before
from .tailor import Renderer, Tailor, tailor_for

if TYPE_CHECKING:
    from .backends.base import Backend

__all__ = ["SUBSCRIBE_TIMEOUT", "Hub", "hub"]

logger = logging.getLogger("djws.broadcast")

#: Seconds join() waits for the backend to confirm a new subscription.
SUBSCRIBE_TIMEOUT = 5.0


class Hub:
    """Local group membership, ordering and message fan-out for one process."""

    def __init__(self) -> None:
        #: group name -> what this process holds of it.
        self.groups: dict[str, Group] = {}
        #: The broadcast state of every attached connection.
        self.members: dict[Subscriber, Member] = {}
        #: Recent messages, framed once for every member sent them.
        self.framed = FrameCache()
        self._targets_backend: Backend | None = None
        #: Checks a connection's session again when a ``verify`` order asks
        #: (:mod:`.orders`); set by the worker that serves WebSockets.
        self.verifier: Verifier | None = None
        #: Renders per-user messages (:mod:`.tailor`); set by djws's app config.
        self.renderer: Renderer | None = None

    @property
    def worker_id(self) -> str:
        """``host:pid:token`` -- names this process in presence entries."""
        return worker_id()

    def backend(self) -> Backend:
        """This process's backend."""
        return get_backend()

    def cursor(self, group: str) -> Position | None:
        """The position of the last message of ``group`` delivered here, if known."""
        record = self.groups.get(group)
        return None if record is None else record.cursor

    def _group(self, name: str) -> Group:
        record = self.groups.get(name)
        if record is None:
            record = self.groups[name] = Group(name)
        return record

    # Connections

    def attach(
        self,
        ws: Subscriber,
        identity: Identity,
        *,
        forward_targets: bool = True,
        expires: float | None = None,
    ) -> None:
        """Own ``ws``'s memberships from now on; put it in its user's and session's groups.

        Their messages are forwarded to the client, or with ``forward_targets``
        False handed to the connection as :class:`GroupMessage` objects.
        ``expires``: when its session expires (Unix time), for the session checks.
        """
        options = client_options(ws.request)
        self.members[ws] = Member(identity, options.envelope, options.since, expires, options.html)
        for target in identity.targets:
            self._group(target).members[ws] = How.FORWARD if forward_targets else How.DELIVER
        backend = self.backend()
        if self._targets_backend is not backend:
            self._targets_backend = backend
            for channel in (TARGETS, CLOSES):
                self._group(channel)
                backend.subscribe(channel)
        # Every connection may be closed by an order; only those with an identity
        # receive user and session messages.
        self._subscribed(backend, CLOSES)
        if identity.targets:
            self._subscribed(backend, TARGETS)

    def _subscribed(self, backend: Backend, group: str) -> bool:
        """Wait for the subscription to ``group``; make sure its cursor is set."""
        confirmed = backend.wait_subscribed(group, SUBSCRIBE_TIMEOUT)
        if not confirmed:
            logger.warning(
                "Group %r: the broadcast backend has not confirmed the subscription yet; "
                "it will be restored, and what was missed replayed, when it is reachable",
                group,
            )
        if self.cursor(group) is None:
            # Unconfirmed too: the confirmation's catch_up() then replays from here
            # what was published before the subscription took effect.
            self.catch_up(group)
        return confirmed

    def join(
        self,
        ws: Subscriber,
        group: str,
        *,
        forward: bool = True,
        since: Position | str | None = None,
    ) -> Joined:
        """Add ``ws`` to ``group``, from ``since`` if given; return once it is live."""
        check_group(group, joining=True)
        member = self.members[ws]
        if isinstance(since, str):
            since = Position.parse(since)
        if since is None:
            since = member.since.pop(group, None)
        backend = self.backend()
        already = group in member.groups
        member.groups[group] = forward
        how = (How.ENVELOPE if member.envelope else How.FORWARD) if forward else How.DELIVER
        record = self.groups.get(group)
        if record is None:
            record = self.groups[group] = Group(group)
            backend.subscribe(group)
        held = record.held[ws] = []
        try:
            self._subscribed(backend, group)
            joined, missed = record.missed(since, backend)
            # What it missed, where it stands, then the live messages that came meanwhile.
            last, replayed = joined.position, len(missed)
            for position, wire in held:
                if position.epoch != last.epoch or position > last:
                    missed.append((position, wire))
                    last = position
            record.send_missed(ws, how, joined, missed, replayed, self.framed, self.tailor)
        except BaseException:
            del record.held[ws]
            self._remove(ws, group)
            raise
        del record.held[ws]
        cursor = record.cursor
        if cursor is not None and cursor.epoch == last.epoch and cursor < last:
            record.ahead[ws] = last
        record.members[ws] = how
        if not already:
            backend.presence_add(group, member.id, member.presence_entry(self.worker_id))
        return joined

    def leave(self, ws: Subscriber, group: str) -> None:
        """Remove ``ws`` from ``group`` (nothing happens if it was not in it)."""
        member = self.members.get(ws)
        if member is None or group not in member.groups:
            return
        del member.groups[group]
        self._remove(ws, group)
        self.backend().presence_remove(group, member.id)

    def forget(self, ws: Subscriber) -> None:
        """Take a finished connection out of every group, its user's and session's too."""
        member = self.members.get(ws)
        if member is None:
            return
        for target in member.identity.targets:
            record = self.groups.get(target)
            if record is not None:
                record.members.pop(ws, None)
                if record.empty:
                    del self.groups[target]
        for group in list(member.groups):
            try:
                self.leave(ws, group)
            except Exception:
                logger.exception("Could not leave group %r for %r", group, ws)
        del self.members[ws]

    def _remove(self, ws: Subscriber, group: str) -> None:
        record = self.groups.get(group)
        if record is None:
            return
        record.members.pop(ws, None)
        record.ahead.pop(ws, None)
        if record.empty:  # not while a join is in progress: it is about to be a member
            del self.groups[group]
            self.backend().unsubscribe(group)

    def groups_of(self, ws: Subscriber) -> frozenset[str]:
        """The groups ``ws`` joined (not its internal user and session groups)."""
        member = self.members.get(ws)
        return frozenset(member.groups) if member is not None else frozenset()

    # Presence

    def presence_snapshot(self) -> list[tuple[str, str, str]]:
        """Every local ``(group, connection id, entry)``: what a backend restores."""
        snapshot = []
        worker = self.worker_id
        for group, record in self.groups.items():
            if group.startswith(RESERVED_PREFIX):
                continue
            for ws in record.members:
                member = self.members.get(ws)
                if member is not None:
                    snapshot.append((group, member.id, member.presence_entry(worker)))
        return snapshot

    def local_presence(self, group: str) -> list[dict[str, Any]]:
        """Presence entries of this process's connections in ``group``."""
        return [json.loads(entry) for g, _, entry in self.presence_snapshot() if g == group]

    # Ordering: what the backend receives

    def receive(
        self, group: str, position: Position, wire: bytes, published_at: float | None = None
    ) -> None:
        """Deliver a message received live: fill a gap before it, drop it if seen.

        ``published_at`` (Unix time) is when the backend stored it, if it says.
        """
        if published_at is not None:
            metrics.lag(time.time() - published_at)
        record = self.groups.get(group)
        if record is None:
            return  # no local member (memory:// hands over every message published)
        cursor = record.cursor
        if cursor is not None:
            if position.epoch == cursor.epoch:
                if position.offset <= cursor.offset:
                    return  # delivered already (from the history, after a reconnection)
                if position.offset > cursor.offset + 1:
                    self._fill(group, cursor.offset, position)
            else:
                self._fill(group, 0, position)  # a new stream: from its start
        self._deliver(group, position, wire)

    def confirmed(self, group: str) -> None:
        """The backend confirmed a subscription to ``group``: replay what was missed.

        A group this worker has no cursor for yet has nothing to replay: its
        joiners read where it stands (``join()``). Not reading it here keeps the
        listener free: in a reconnect storm hundreds of groups are confirmed at
        once, and a read each delayed every later confirmation by seconds.
        """
        if self.cursor(group) is not None:
            self.catch_up(group)

    def catch_up(self, group: str) -> None:
        """Read what the history holds after the cursor, before anything live.

        Called once a resubscription is confirmed (:meth:`confirmed`), and by
        ``join()`` for a group without a cursor (which then starts at the head).
        """
        cursor = self.cursor(group)
        try:
            history = self.backend().read(group, cursor.offset if cursor is not None else 0)
        except HistoryError as exc:
            logger.error("Cannot catch up on group %r: %s; retrying when it reconnects", group, exc)
            return
        record = self.groups.get(group)
        if record is None:
            return  # everyone left meanwhile
        # Where the cursor is now: another catch_up() or a live message may have moved
        # it during the read (the history read holds everything after the old one).
        cursor = record.cursor
        if cursor is None or not history.epoch:
            record.cursor = cursor or history.position
            return
        if history.epoch != cursor.epoch:  # the backend lost the stream: a new one
            self._fill(group, 0, Position(history.epoch, history.head + 1))
        elif history.head > cursor.offset:
            self._fill(group, cursor.offset, Position(history.epoch, history.head + 1), history)

    def _fill(self, group: str, after: int, upto: Position, history: Slice | None = None) -> None:
        """Deliver the stored messages after offset ``after`` and before ``upto``."""
        try:
            if history is None:
                history = self.backend().read(group, after)
        except HistoryError as exc:
            logger.error("Cannot fill a gap in group %r before %s: %s", group, upto, exc)
            self.reset(group, upto)
            return
        lost = lost_before(self.cursor(group), history) if after == 0 else 0
        if lost != 0:  # the old epoch's end is gone: it did not (or may not) reach this worker
            logger.error(
                "Group %r: %s; members are told to reload",
                group,
                f"the backend's primary changed before {lost} message(s) reached this worker"
                if lost
                else "the broadcast backend lost its stream (restarted without persistence, or "
                "the group was quiet longer than its epoch is kept): what it stored last may "
                "never have reached this worker",
            )
            self.reset(group, Position(history.epoch, 1))
        entries = [e for e in history.entries if after < e.offset < upto.offset]
        metrics.replayed(len(entries))
        expected = upto.offset - after - 1
        if history.epoch != upto.epoch or len(entries) != expected:
            logger.error(
                "Group %r: %d message(s) before %s are no longer in the history "
                "(raise WEBSOCKET_BROADCAST_HISTORY or _AGE); members are told to reload",
                *(group, expected - len(entries), upto),
            )
            self.reset(group, upto)
        for entry in entries:
            self._deliver(group, Position(upto.epoch, entry.offset), entry.wire)

    def reset(self, group: str, position: Position) -> None:
        """Tell the members of ``group`` that messages before ``position`` were lost."""
        record = self.groups.get(group)
        if record is not None and group not in (TARGETS, CLOSES):  # no member resumes them
            record.reset(position)

    def _deliver(self, group: str, position: Position, wire: bytes) -> None:
        record = self.groups.get(group)
        if record is None:
            return
        if group not in (TARGETS, CLOSES):
            record.deliver(position, wire, self.framed, self.tailor(wire))
            return
        record.cursor = position
        if group == CLOSES:
            carry_out(wire, self.groups, self.members, self.verifier)
            return
        target, wire = split_target(wire)
        members = self.groups.get(target)
        if members is not None:
            members.fan_out(target, position, wire, self.framed, self.tailor(wire))

    def tailor(self, wire: bytes) -> Tailor | None:
        """What makes ``wire`` each member's own, if it is not the same for all."""
        return tailor_for(wire, self.members, self.renderer)


#: The hub of this process (:meth:`~.backends.BackendManager.serve` makes it receive).
hub = Hub()
