"""Authentication for WebSocket clients without a session cookie: apps, scripts, other sites.

A browser on the site's own pages needs nothing of this: its session cookie
comes with the handshake. Other clients present a credential in the handshake,
which :class:`WebSocketAuthenticationMiddleware` turns into ``request.user``
before the view runs:

* a **ticket** (:mod:`.tickets`): short-lived, single-use, signed, issued over
  HTTP by :func:`djws.auth.views.ticket_view` or :func:`issue_ticket`; offered as
  the subprotocol ``djws.ticket.<ticket>`` or in ``?djws-ticket=``. A WebSocket
  it opened closes with 3000 when it expires, unless refreshed (:mod:`.renewal`);
* a **token** of Django REST framework's authentication classes, in the
  ``Authorization`` header, the subprotocol ``djws.token.<token>`` or
  ``?djws-token=`` (:mod:`.drf`).

The names below are importable from here, each from its module when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "UNAUTHORIZED",
    "AuthenticationFailed",
    "InvalidTicket",
    "Ticket",
    "TicketAuthentication",
    "TicketWebSocket",
    "WebSocketAuthenticationMiddleware",
    "issue_ticket",
    "verify_ticket",
]

_EXPORTS = {
    "AuthenticationFailed": "djws.auth.authentication",
    "TicketAuthentication": "djws.auth.authentication",
    "WebSocketAuthenticationMiddleware": "djws.auth.middleware",
    "InvalidTicket": "djws.auth.tickets",
    "Ticket": "djws.auth.tickets",
    "issue_ticket": "djws.auth.tickets",
    "verify_ticket": "djws.auth.tickets",
    "UNAUTHORIZED": "djws.auth.renewal",
    "TicketWebSocket": "djws.auth.renewal",
}

if TYPE_CHECKING:
    from .authentication import AuthenticationFailed, TicketAuthentication
    from .middleware import WebSocketAuthenticationMiddleware
    from .renewal import UNAUTHORIZED, TicketWebSocket
    from .tickets import InvalidTicket, Ticket, issue_ticket, verify_ticket


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'djws.auth' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
