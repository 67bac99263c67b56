"""Tickets: short-lived, single-use credentials for one user, minted over HTTP.

A page or an app that is logged in to the site over HTTP gets a ticket from an
ordinary Django view (:func:`djws.auth.views.ticket_view`, or
:func:`issue_ticket` in a view of its own) and presents it in the WebSocket
handshake, where a cookie cannot go or is not wanted.

A ticket is ``<payload>.<timestamp>.<signature>``: Django's
:class:`~django.core.signing.TimestampSigner`, salted with ``djws.ticket`` (a
signature made with ``SECRET_KEY`` for anything else never passes), over the
user's primary key and a random id. Only characters a subprotocol and a query
string take as they are: ``A-Z a-z 0-9 - _ .``. The signature needs no table;
**single use** needs a store: the first handshake that presents a ticket adds
its id to the cache ``WEBSOCKET_TICKET_CACHE`` names (``cache.add()``, atomic
in Redis and Memcached), where it stays until the ticket would have expired
anyway, and any later one finds it there. A per-process cache (``LocMemCache``)
cannot see the other processes' entries: the system check ``djws.W031`` says so.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import caches

from ..conf import settings

__all__ = ["SALT", "InvalidTicket", "Ticket", "issue_ticket", "verify_ticket"]

#: The salt of every ticket's signature.
SALT = "djws.ticket"


@dataclass(frozen=True, slots=True)
class Ticket:
    """A verified ticket: the ``request.auth`` of a handshake it authenticated."""

    #: The primary key of the user it was issued for (as JSON has it).
    user_pk: Any
    #: Its random id, remembered by the cache once used.
    id: str
    #: When it was issued and when it expires, in seconds since the epoch.
    issued_at: float
    expires_at: float

    @property
    def expires_in(self) -> float:
        """Seconds left before it expires (0 once expired)."""
        return max(0.0, self.expires_at - time.time())


class InvalidTicket(Exception):  # noqa: N818 - a ticket that is not valid, as Django's names go
    """A ticket that authenticates nobody; :attr:`reason` says why, in a word or two."""

    EXPIRED = "expired"
    REUSED = "reused"
    BAD_SIGNATURE = "bad signature"
    UNKNOWN_USER = "unknown or inactive user"
    OTHER_USER = "another user's"

    def __init__(self, reason: str, user_pk: Any = None) -> None:
        #: One of the constants above.
        self.reason = reason
        #: The user it names, when its signature was good; None otherwise.
        self.user_pk = user_pk
        super().__init__(reason if user_pk is None else f"{reason}, user {user_pk}")


def _signer() -> signing.TimestampSigner:
    # "." rather than ":": a colon may not appear in a subprotocol.
    return signing.TimestampSigner(salt=SALT, sep=".")


def issue_ticket(user: Any) -> str:
    """Return a new ticket for ``user``, valid once for ``WEBSOCKET_TICKET_MAX_AGE`` seconds.

    Raise ValueError for an anonymous user.
    """
    if not getattr(user, "is_authenticated", False):
        raise ValueError("issue_ticket() needs an authenticated user, not an anonymous one")
    pk = user.pk if isinstance(user.pk, (int, str)) else str(user.pk)
    return _signer().sign_object({"u": pk, "i": secrets.token_urlsafe(9)})


def verify_ticket(value: str) -> tuple[Any, Ticket]:
    """Check ``value`` and spend it; return its user and the :class:`Ticket`.

    Checked in this order, the first failure raising :exc:`InvalidTicket`:
    the signature, the age (``WEBSOCKET_TICKET_MAX_AGE``), single use (the
    cache), then the user, read again from the database (gone or inactive:
    refused).
    """
    try:
        payload = _signer().unsign_object(value)
    except signing.BadSignature:
        raise InvalidTicket(InvalidTicket.BAD_SIGNATURE) from None
    if not isinstance(payload, dict) or "u" not in payload or "i" not in payload:
        raise InvalidTicket(InvalidTicket.BAD_SIGNATURE)
    pk, ticket_id = payload["u"], str(payload["i"])
    issued_at = float(signing.b62_decode(value.rsplit(".", 2)[1]))
    expires_at = issued_at + settings.WEBSOCKET_TICKET_MAX_AGE
    left = expires_at - time.time()
    if left < 0:
        raise InvalidTicket(InvalidTicket.EXPIRED, pk)
    store = caches[settings.WEBSOCKET_TICKET_CACHE]
    if not store.add(f"djws.ticket.{ticket_id}", 1, timeout=math.ceil(left) + 1):
        raise InvalidTicket(InvalidTicket.REUSED, pk)
    user_model = get_user_model()
    try:
        user = user_model._default_manager.get(pk=pk)
    except (user_model.DoesNotExist, ValueError, TypeError):
        raise InvalidTicket(InvalidTicket.UNKNOWN_USER, pk) from None
    if not getattr(user, "is_active", True):
        raise InvalidTicket(InvalidTicket.UNKNOWN_USER, pk)
    return user, Ticket(pk, ticket_id, issued_at, expires_at)
