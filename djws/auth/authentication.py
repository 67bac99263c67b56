"""Authentication classes for WebSocket handshakes, and how they fail.

Each class has Django REST framework's shape: ``authenticate(request)``
returns ``(user, auth)``, or None when the request carries nothing it reads,
or raises :exc:`AuthenticationFailed` when it carries something bad.
:class:`TicketAuthentication` reads djws tickets; DRF's own classes
(``TokenAuthentication``, simplejwt's ``JWTAuthentication``, yours) run through
:mod:`djws.auth.drf`. :mod:`djws.auth.middleware` runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.credentials import TICKET, Credential
from .tickets import InvalidTicket, Ticket, verify_ticket

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = ["AuthenticationFailed", "Authenticator", "TicketAuthentication", "presented"]


class AuthenticationFailed(Exception):  # noqa: N818 - DRF's name for the same thing
    """Credentials were presented and are not good: the handshake is refused."""

    def __init__(
        self, message: str, *, reason: str, challenge: str | None, conclusive: bool = True
    ) -> None:
        super().__init__(message)
        #: The response's body: what the client is told.
        self.message = message
        #: What the log line says was wrong (never the credential itself).
        self.reason = reason
        #: The ``WWW-Authenticate`` challenge of the 401; None answers 403.
        self.challenge = challenge
        #: False: let the next class try the same credential (a token from the
        #: subprotocol or the query string names no scheme).
        self.conclusive = conclusive


class Authenticator(Protocol):
    """What :func:`authenticate` runs: an authentication class's instance."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None: ...


def presented(request: HttpRequest, kind: str) -> Credential | None:
    """The credential of ``kind`` the handshake carries (subprotocol first), or None."""
    upgrade = getattr(request, "websocket_upgrade", None)
    return None if upgrade is None else upgrade.handshake.credential(kind)


class TicketAuthentication:
    """Authenticate a handshake by its djws ticket: ``djws.ticket.<ticket>`` or ``?djws-ticket=``.

    The ticket is spent (:func:`~djws.auth.tickets.verify_ticket`), ``request.auth``
    is its :class:`~djws.auth.tickets.Ticket`, and the view's ``ws`` is a
    :class:`~djws.auth.renewal.TicketWebSocket`, which closes with 3000 when the
    ticket expires unless the client refreshes it.
    """

    #: Credential kinds it reads.
    kinds = (TICKET,)

    def authenticate(self, request: HttpRequest) -> tuple[Any, Ticket] | None:
        """Return ``(user, ticket)``, None without a ticket; raise AuthenticationFailed."""
        credential = presented(request, TICKET)
        if credential is None:
            return None
        try:
            user, ticket = verify_ticket(credential.value)
        except InvalidTicket as exc:
            raise AuthenticationFailed(
                f"Invalid ticket ({exc.reason}): get a new ticket, then open this WebSocket again.",
                reason=f"ticket: {exc}",
                challenge="Ticket",
            ) from None
        from .renewal import TicketWebSocket  # the server's side: only when a ticket is used

        request.websocket_class = TicketWebSocket  # type: ignore[attr-defined]
        return user, ticket
