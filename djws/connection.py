"""The ``ws`` object a view receives: a connection that knows Django and the broadcast hub.

:class:`WebSocket` is the server's :class:`~djws.server.connection.Connection`
with what a Django view adds to it:

* **accepting** reads who the client is (its user and session, for
  ``send_to_user`` / ``send_to_session``) *before* the ``101`` -- an error there
  is still an HTTP 500 -- then writes the ``101``, attaches the connection to the
  process's broadcast hub, and releases the handshake's database connections:
  :meth:`WebSocket.accept` reads in that order;
* **groups**: :meth:`~WebSocket.join`, :meth:`~WebSocket.leave` and
  :attr:`~WebSocket.groups`, held by the hub (:mod:`djws.broadcast.hub`);
* **sessions that end** close it (:mod:`djws.sessions`): it knows when its
  session expires, and the keepalive pass reads the session again then;
* **database hygiene** while it waits: a view blocked in ``receive()`` for
  ``WEBSOCKET_DB_RELEASE_DELAY`` seconds gives its database connections back
  (:mod:`djws.db`);
* **limits** (:mod:`djws.limits`): the connections of a user and of a client
  address in this worker, and the groups of a connection;
* JSON helpers.

``@websocket`` (:mod:`djws.decorators`) builds one for each handshake.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from . import db, sessions
from .broadcast.hub import hub
from .broadcast.members import identify
from .broadcast.message import envelope
from .exceptions import ConnectionClosed
from .limits import Limits, Open
from .server.connection import CloseCode, Connection
from .server.limits import crossed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.http import HttpRequest

    from .broadcast import GroupMessage, Joined, Position
    from .server.handoff import Upgrade

__all__ = ["CloseCode", "WebSocket", "open_connections"]

#: The connections open in this worker, by user and by client address.
open_connections = Open()


class WebSocket(Connection):
    """A WebSocket connection, used from a synchronous view.

    Typical use::

        for message in ws:      # str for text frames, bytes for binary ones
            ws.send(message)
    """

    __slots__ = ("_address", "_counted", "_limits", "request")

    def __init__(
        self, upgrade: Upgrade, request: HttpRequest, limits: Limits | None = None
    ) -> None:
        super().__init__(upgrade, limits)
        #: The Django request that opened this connection.
        self.request = request
        self._limits = limits or upgrade.config.limits
        self._address = upgrade.address
        self._counted: tuple[Any, str] | None = None  # (user, address) in open_connections

    def accept(
        self,
        subprotocol: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        compression: bool | None = None,
    ) -> None:
        """Write ``101 Switching Protocols``: the connection is open from now on.

        ``subprotocol`` must be one the client offered (:attr:`offered_subprotocols`;
        ValueError otherwise); ``headers`` are added to the response;
        ``compression`` overrides ``WEBSOCKET_COMPRESSION``.
        """
        identity = identify(self.request)  # before the 101: an error here is still a 500
        expires = sessions.expiry_of(self.request)
        super().accept(subprotocol, headers=headers, compression=compression)
        hub.attach(self, identity, expires=expires)
        db.release_connections()  # the handshake's queries are done; it may wait for hours
        over = open_connections.add(identity.user, self._address, self._limits)
        if over is None:
            self._counted = (identity.user, self._address)
        else:  # closed after the 101, so that a browser can read the reason
            self._over(
                over,
                getattr(self._limits, over),
                "connections for this user"
                if over == "connections_per_user"
                else "connections from this address",
            )

    def _over(self, limit: str, value: Any, what: str) -> None:
        """Close with 1008: the client crossed ``limit``; log it (once a minute) and count it."""
        reason = f"too many {what}: over {value:g}"
        crossed(limit, self._address, reason)
        if not self.closed:
            self.close(CloseCode.POLICY_VIOLATION, reason)

    # Groups

    def join(
        self, group: str, *, forward: bool = True, since: Position | str | None = None
    ) -> Joined:
        """Receive what is published to ``group``, from any process, until leaving it.

        With ``forward`` (the default) messages go straight to the client, framed
        once for all recipients and queued without waiting (a client too slow to
        read them is closed with 1008). With ``forward=False`` they come out of
        ``receive()`` as :class:`djws.broadcast.GroupMessage` objects, for the
        view to filter, transform or write through with :meth:`forward` or ``send``.

        ``since`` (a :class:`djws.broadcast.Position`, or its ``"epoch:offset"``
        text) resumes: the messages published after it are replayed from the
        history first, then delivery goes live, exactly once and in order. A
        client using djws.js resumes by itself, without ``since``.

        Returns once the broadcast backend has confirmed the subscription, so a
        message published after ``join()`` returns is received, with a
        :class:`djws.broadcast.Joined`: the position reached, and ``recovered``
        -- False when the position could not be honoured (older than the
        history, or of a lost stream): reload what depends on the group.
        Leaving is automatic when the connection ends. A connection in
        ``WEBSOCKET_LIMITS["groups_per_connection"]`` groups already is closed
        with 1008 instead, and :class:`~djws.exceptions.ConnectionClosed` raised.
        """
        protocol = self._open()[0]
        limit = self._limits.groups_per_connection
        joined = hub.groups_of(self) if limit is not None else ()
        if limit is not None and len(joined) >= limit and group not in joined:
            self._over("groups_per_connection", limit, "groups")
            raise ConnectionClosed(protocol.close_rcvd, protocol.close_sent)
        return hub.join(self, group, forward=forward, since=since)

    def forward(self, item: GroupMessage) -> None:
        """Send a :class:`djws.broadcast.GroupMessage` on to the client as a joined group would.

        To a client that asked for positions (djws.js), in its envelope, so
        that it can resume; to others, the message as published.
        """
        member = hub.members.get(self)
        if member is not None and member.envelope and item.position is not None:
            self.send(envelope(item.group, item.position, item.wire).decode())
        else:
            self.send(item.raw)

    def leave(self, group: str) -> None:
        """Stop receiving ``group``'s messages (nothing happens if not in it)."""
        self._open()
        hub.leave(self, group)

    @property
    def groups(self) -> frozenset[str]:
        """The groups this connection joined."""
        return hub.groups_of(self)

    # JSON

    def receive_json(self, timeout: float | None = None) -> Any:
        """Receive a text message and decode it as JSON (None once closed)."""
        message = self.receive(timeout)
        if message is None:
            return None
        if not isinstance(message, (str, bytes)):
            raise TypeError(f"expected a message from the client, got {message!r}")
        return json.loads(message)

    def send_json(self, obj: Any, **dumps_kwargs: Any) -> None:
        """Send ``obj`` encoded as JSON in a text message."""
        self.send(json.dumps(obj, **dumps_kwargs))

    # Database connections, while receive() waits

    def _idle_after(self, wait: float | None) -> float | None:
        delay = self._config.db_release_delay
        if delay is not None and (wait is None or wait > delay) and db.connections_in_use():
            return delay
        return wait

    def _idle(self) -> None:
        if self._config.db_release_delay is not None and db.connections_in_use():
            db.release_connections()

    def tick(self, now: float, **limits: float | None) -> None:
        """Keepalive (:meth:`Connection.tick`); then, if its session is due to expire,
        read it again (:func:`djws.sessions.check_expiry`), and be due by then."""
        super().tick(now, **limits)
        expires = sessions.check_expiry(self)
        if expires is not None:  # Unix time: due then on the monotonic clock too
            self.tick_due = min(self.tick_due, now + expires - time.time())

    # The end

    def finish(self) -> None:
        """Close with 1000 if still open, complete the handshake, leave every group."""
        try:
            super().finish()
        finally:
            hub.forget(self)
            if self._counted is not None:
                open_connections.remove(*self._counted)
                self._counted = None

    def __repr__(self) -> str:
        state = "pending" if not self.accepted else "closed" if self.closed else "open"
        return f"<WebSocket {getattr(self.request, 'path', '?')} {state}>"
