"""Django REST framework's authentication classes, run on a WebSocket handshake.

List them in ``WEBSOCKET_AUTHENTICATION_CLASSES`` as in DRF's
``DEFAULT_AUTHENTICATION_CLASSES``::

    WEBSOCKET_AUTHENTICATION_CLASSES = [
        "djws.auth.TicketAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ]

Each runs unchanged, on DRF's :class:`~rest_framework.request.Request` around
the handshake's request. A client that can set headers (an app, a script) sends
``Authorization`` as it does to your API, and DRF's rules apply: the first class
that returns a user wins, and one that raises ``AuthenticationFailed`` refuses.

A client that cannot (a browser) offers the token as the subprotocol
``djws.token.<token>`` or in ``?djws-token=`` (redacted from logs). That names
no scheme, so each class is shown it in turn as ``Authorization: <scheme>
<token>``, its scheme being the first word of its ``authenticate_header()``
(``Token``, ``Bearer``), and the first that accepts it wins; when all of them
reject it, the first rejection is the answer.

:class:`TicketAPIView` issues tickets to clients that DRF authenticates (an
app with its API token exchanging it for a ticket, for a page or a socket that
cannot send the token itself).

This module imports DRF: djws imports it only when such a class is listed or
the view is used (``pip install 'djws[drf]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..conf import settings
from ..protocol.credentials import TOKEN
from .authentication import AuthenticationFailed, presented
from .tickets import issue_ticket

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = ["DRFAuthenticator", "TicketAPIView"]

_AUTHORIZATION = "HTTP_AUTHORIZATION"


class DRFAuthenticator:
    """One DRF authentication class's instance, adapted to a WebSocket handshake."""

    #: Credential kinds it reads (besides the Authorization header).
    kinds = (TOKEN,)

    def __init__(self, authentication: Any) -> None:
        #: The DRF authentication instance: ``request.successful_authenticator``.
        self.authentication = authentication

    def authenticate(self, request: HttpRequest) -> tuple[Any, Any] | None:
        """Run the DRF class; return ``(user, auth)`` or None; raise AuthenticationFailed."""
        drf_request = Request(request)
        try:
            return self._authenticate(request, drf_request)
        finally:
            # DRF's Request refers to itself (parser_context["request"]): without
            # this, the cycle would keep the handshake's request alive until the
            # cyclic collector runs (docs/topics/architecture.rst).
            drf_request.parser_context = None

    def _authenticate(self, request: HttpRequest, drf_request: Request) -> tuple[Any, Any] | None:
        token = presented(request, TOKEN)
        meta = request.META
        if token is None or _AUTHORIZATION in meta:
            return self._run(drf_request, conclusive=True)
        scheme = (self.authentication.authenticate_header(drf_request) or "").split(" ", 1)[0]
        if not scheme:
            return None  # a class without a scheme cannot be shown a bare token
        meta[_AUTHORIZATION] = f"{scheme} {token.value}"
        try:
            return self._run(drf_request, conclusive=False)
        finally:
            del meta[_AUTHORIZATION]  # the token stays out of the request's headers

    def _run(self, drf_request: Request, *, conclusive: bool) -> tuple[Any, Any] | None:
        try:
            result: tuple[Any, Any] | None = self.authentication.authenticate(drf_request)
            if result is not None:
                _unlink(*result)
        except APIException as exc:
            detail = exc.detail
            if isinstance(detail, dict):
                detail = detail.get("detail", detail)
            name = type(self.authentication).__name__
            raise AuthenticationFailed(
                str(detail),
                reason=f"{name}: {detail}",
                challenge=self.authentication.authenticate_header(drf_request),
                conclusive=conclusive,
            ) from None
        return result


def _unlink(user: Any, auth: Any) -> None:
    """Drop the user's cached reference back to ``auth``, a cycle of Django's ORM.

    ``TokenAuthentication`` loads the token with its user (``select_related``),
    and Django caches each side of the one-to-one on the other: the user and
    token of every finished connection would wait for the cyclic collector.
    """
    cache = getattr(getattr(user, "_state", None), "fields_cache", None)
    if cache:
        for name in [name for name, value in cache.items() if value is auth]:
            del cache[name]


class TicketAPIView(APIView):  # type: ignore[misc] # DRF has no type hints
    """Issue a ticket to the user DRF authenticated: ``{"ticket", "expires_in"}``.

    DRF's ``DEFAULT_AUTHENTICATION_CLASSES`` authenticate the request; anyone
    else gets DRF's 401 or 403. Wire it into ``ROOT_URLCONF``:
    ``path("api/ws-ticket/", TicketAPIView.as_view())``.
    """

    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        """Answer a new ticket, never cached."""
        return Response(
            {"ticket": issue_ticket(request.user), "expires_in": settings.WEBSOCKET_TICKET_MAX_AGE},
            headers={"Cache-Control": "no-store"},
        )
