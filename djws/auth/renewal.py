"""A WebSocket opened with a ticket lives as long as its ticket, unless refreshed.

When the ticket's lifetime (``WEBSOCKET_TICKET_MAX_AGE`` from when it was
issued) ends, the worker's keepalive pass closes the connection with **3000**
(``Unauthorized``, IANA's registry) and the reason ``ticket expired``; the
view's ``receive()`` returns None, as for any close.

Before that, the client may present a new ticket over the socket, as one text
message::

    {"djws": "refresh", "ticket": "<a new ticket>"}

djws takes that message before the view sees it, verifies the ticket as a
handshake would (signature, age, single use, the user still active) and that
it is for the same user, and answers with one text message::

    {"djws": "refreshed", "expires_in": 120}          the new deadline, in seconds
    {"djws": "refresh-failed", "reason": "reused"}     the old deadline stands

(``reason`` is ``expired``, ``reused``, ``bad signature``, ``unknown or
inactive user`` or ``another user's``; the refusal is also logged on
``djws.security``). Any other message, JSON or not, goes to the view.

Refresh messages are answered inside ``receive()`` (and so ``for message in
ws`` and ``receive_json()``): a view that never receives cannot be refreshed,
and its WebSocket closes when the first ticket expires.
"""

from __future__ import annotations

import json
import logging
import time
from time import monotonic
from typing import TYPE_CHECKING, Any

from ..connection import WebSocket
from ..sessions import CLOSE_CODE
from .tickets import InvalidTicket, Ticket, verify_ticket

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..limits import Limits
    from ..server.handoff import Upgrade

__all__ = ["REFRESH", "UNAUTHORIZED", "TicketWebSocket"]

security_logger = logging.getLogger("djws.security")

#: The close code of a WebSocket whose ticket expired: the one of ended sessions
#: (3000, IANA's "Unauthorized"), so that a client treats both alike.
UNAUTHORIZED = CLOSE_CODE
#: The ``djws`` value of a refresh message.
REFRESH = "refresh"


def _deadline(ticket: Ticket) -> float:
    """When ``ticket`` expires, on the monotonic clock the keepalive pass reads."""
    return monotonic() + (ticket.expires_at - time.time())


def _refresh_ticket(message: str) -> Any:
    """The ticket of a refresh message (possibly not a string), or None if it is not one."""
    if not message.startswith("{") or '"djws"' not in message:
        return None
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("djws") != REFRESH:
        return None
    return data.get("ticket", "")


class TicketWebSocket(WebSocket):
    """The ``ws`` of a WebSocket opened with a ticket: closes with 3000 when it expires."""

    __slots__ = ("_expires",)

    def __init__(
        self, upgrade: Upgrade, request: HttpRequest, limits: Limits | None = None
    ) -> None:
        super().__init__(upgrade, request, limits)
        self._expires = _deadline(request.auth)  # type: ignore[attr-defined]

    def tick(self, now: float, **limits: float | None) -> None:
        """Close with 3000 once the ticket expired; else keepalive as usual."""
        if now >= self._expires and not self.closed:
            self.close(UNAUTHORIZED, "ticket expired")
            return
        super().tick(now, **limits)
        self.tick_due = min(self.tick_due, self._expires)

    def receive(self, timeout: float | None = None) -> Any:
        """Return the next message, after answering any refresh messages before it."""
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - monotonic())
            message = super().receive(wait)
            if message.__class__ is not str:
                return message
            ticket = _refresh_ticket(message)
            if ticket is None:
                return message
            self._refresh(ticket)

    def _refresh(self, value: Any) -> None:
        request = self.request
        try:
            if not isinstance(value, str):
                raise InvalidTicket(InvalidTicket.BAD_SIGNATURE)
            _user, ticket = verify_ticket(value)
            if str(ticket.user_pk) != str(request.user.pk):
                raise InvalidTicket(InvalidTicket.OTHER_USER, ticket.user_pk)
        except InvalidTicket as exc:
            security_logger.warning(
                "Ticket refresh refused (ticket: %s): %s",
                exc,
                request.path,
                extra={"request": request},
            )
            self.send_json({"djws": "refresh-failed", "reason": exc.reason})
            return
        self._expires = _deadline(ticket)
        request.auth = ticket  # type: ignore[attr-defined]
        self.send_json({"djws": "refreshed", "expires_in": round(ticket.expires_in)})
