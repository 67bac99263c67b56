"""The HTTP view that issues tickets to the logged-in user.

Wire it into ``ROOT_URLCONF`` (not ``WEBSOCKET_URLCONF``: it is an ordinary
HTTP view), behind however the project authenticates HTTP requests::

    from djws.auth.views import ticket_view

    urlpatterns = [path("ws-ticket/", ticket_view)]

``GET /ws-ticket/`` answers ``{"ticket": "...", "expires_in": 120}`` to a
logged-in user and ``403 {"detail": "Authentication required."}`` to anyone
else, never cached. Minting changes nothing on the server (the ticket is
signed, not stored), so a GET is right; another site's page cannot read the
answer (the same-origin policy), and a ticket is worth nothing without it.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..conf import settings
from .tickets import issue_ticket

__all__ = ["ticket_view"]


@never_cache
@require_GET
def ticket_view(request: HttpRequest) -> JsonResponse:
    """Issue a ticket to ``request.user``: ``{"ticket", "expires_in"}``, or 403 if anonymous."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Authentication required."}, status=403)
    return JsonResponse(
        {
            "ticket": issue_ticket(request.user),
            "expires_in": settings.WEBSOCKET_TICKET_MAX_AGE,
        }
    )
