"""A connection's group memberships, owned by the broadcast hub that attaches itself.

:class:`djws.connection.WebSocket` offers ``join()``, ``leave()`` and ``groups``
to views, but the state lives in the broadcast hub
(:class:`djws.broadcast.hub.Hub`), which attaches itself to each connection
after accept and forgets it when its view has finished. The connection only
holds the :class:`Groups` it was given, so neither module imports the other.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Groups", "Membership"]


class Groups(Protocol):
    """What a connection needs from the hub that owns its group memberships."""

    def join(self, ws: Any, group: str, *, forward: bool, since: Any) -> Any: ...
    def leave(self, ws: Any, group: str) -> None: ...
    def groups_of(self, ws: Any) -> frozenset[str]: ...
    def forget(self, ws: Any) -> None: ...
    def forward(self, ws: Any, item: Any) -> None: ...


class Membership:
    """The group side of a connection: every call goes to the attached :class:`Groups`."""

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: Groups | None = None

    def attach_groups(self, groups: Groups) -> None:
        """Let ``groups`` (the broadcast hub) own this connection's group memberships."""
        self._groups = groups

    def detach_groups(self) -> None:
        """Leave every group: called when the connection's view has finished."""
        groups, self._groups = self._groups, None
        if groups is not None:
            groups.forget(self)

    def _owner_of_groups(self) -> Groups:
        if self._groups is None:
            raise RuntimeError(
                "this connection has no broadcast hub: groups work in @websocket views, "
                "once the connection is accepted"
            )
        return self._groups

    def join(self, group: str, *, forward: bool = True, since: Any = None) -> Any:
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
        Leaving is automatic when the connection ends.
        """
        return self._owner_of_groups().join(self, group, forward=forward, since=since)

    def forward(self, item: Any) -> None:
        """Send a :class:`djws.broadcast.GroupMessage` on to the client as a joined group would.

        To a client that asked for positions (djws.js), in its envelope, so
        that it can resume; to others, the message as published.
        """
        self._owner_of_groups().forward(self, item)

    def leave(self, group: str) -> None:
        """Stop receiving ``group``'s messages (nothing happens if not in it)."""
        self._owner_of_groups().leave(self, group)

    @property
    def groups(self) -> frozenset[str]:
        """The groups this connection joined."""
        return self._groups.groups_of(self) if self._groups is not None else frozenset()
