"""A WebSocket before it opens: the pending upgrade, and the ``101`` that opens it.

``@websocket`` builds a :class:`~djws.connection.WebSocket` around the upgrade
request the worker handed to Django (:class:`~djws.server.handoff.Upgrade`).
Until :meth:`~djws.connection.WebSocket.accept` writes the ``101``, the
connection is *pending*: the view can look at what the client offered
(:attr:`Opening.offered_subprotocols`, the request's headers) and may still
refuse with any HTTP response; receiving or sending raises.

What must happen around the ``101`` and belongs to other modules -- reading who
the client is just before it (an error there is still an HTTP 500), attaching
the broadcast hub and releasing the handshake's database connections just
after it -- is an :data:`AcceptHook` the decorator passes in, so neither this
module nor :mod:`djws.connection` imports the hub or the decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .membership import Membership
from .protocol.handshake import deflate_factory

if TYPE_CHECKING:
    from django.http import HttpRequest
    from websockets.extensions.base import Extension

    from .conf import ServerSettings
    from .server.handoff import Upgrade

__all__ = ["NOT_ACCEPTED", "AcceptHook", "Opening"]

#: Called with the connection just before its ``101`` is written (an exception
#: there is still an HTTP error); returns what to call just after it.
AcceptHook = Callable[[Any], Callable[[], None]]

#: The error for using a connection the view has not accepted yet.
NOT_ACCEPTED = (
    "this WebSocket is not accepted yet: call ws.accept() before receiving, sending or "
    "closing, or return an HttpResponse from the view to refuse the connection"
)


class Opening(Membership):
    """The pending side of a connection, and the handshake that ends it.

    A :class:`~djws.membership.Membership` too, so that the connection's state
    is laid out in one line of classes, each with ``__slots__`` (a class may not
    inherit slots from two bases).
    """

    __slots__ = (
        "_config",
        "_on_accept",
        "_upgrade",
        "offered_subprotocols",
        "request",
        "subprotocol",
    )

    def __init__(
        self, upgrade: Upgrade, request: HttpRequest | None = None, *, on_accept: AcceptHook | None
    ) -> None:
        super().__init__()
        self._upgrade: Upgrade | None = upgrade
        self._config: ServerSettings = upgrade.config
        self._on_accept = on_accept
        #: The Django request that opened this connection.
        self.request = request
        #: The subprotocols the client offered, in its order of preference.
        self.offered_subprotocols: Sequence[str] = upgrade.handshake.subprotocols
        #: The subprotocol chosen during the handshake, or None.
        self.subprotocol: str | None = None

    def _write_101(
        self, subprotocol: str | None, headers: Sequence[tuple[str, str]], compression: bool | None
    ) -> tuple[Any, bytes, Extension | None, Callable[[], None] | None]:
        """Write the ``101`` for these choices; return what the open connection needs.

        That is the socket, the bytes read past the request's headers, the
        negotiated permessage-deflate extension (or None), and what the accept
        hook wants called now that the connection is open (or None).
        """
        upgrade = self._upgrade
        if upgrade is None:
            raise RuntimeError("this WebSocket was already accepted")
        config = self._config
        compress = config.compression if compression is None else compression
        # Validates the choices (ValueError) before anything is read or written.
        response, extensions = upgrade.handshake.accept(
            subprotocol,
            compression=deflate_factory(config) if compress else None,
            headers=headers,
        )
        opened = self._on_accept(self) if self._on_accept is not None else None
        sock, buffered = upgrade.commit(response)
        self._upgrade = self._on_accept = None
        self.subprotocol = subprotocol
        return sock, buffered, extensions[0] if extensions else None, opened
