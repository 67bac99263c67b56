"""The middleware that authenticates WebSocket handshakes before the view runs.

::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "djws.auth.WebSocketAuthenticationMiddleware",
        ...,
    ]

Like Django's ``RemoteUserMiddleware``, it comes after
``AuthenticationMiddleware`` and replaces ``request.user`` when the request
carries a credential it can verify, so ``login_required``, permissions and
``send_to_user`` see that user. It touches only WebSocket handshakes (plain
HTTP requests pass through untouched) and never the session.

:func:`authenticate` runs the classes of ``WEBSOCKET_AUTHENTICATION_CLASSES``
in order, as DRF does: the first that returns a user wins; one that raises
:exc:`~djws.auth.authentication.AuthenticationFailed` refuses the handshake
with 401 (403 for a DRF class without a ``WWW-Authenticate`` challenge, as DRF
answers), logged on ``djws.security`` with what was wrong -- never the
credential. DRF's classes are adapted by :mod:`djws.auth.drf`, imported only
when one is listed.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.module_loading import import_string

from ..conf import settings
from ..protocol.credentials import TICKET
from .authentication import AuthenticationFailed, Authenticator

__all__ = ["WebSocketAuthenticationMiddleware", "authenticate", "authenticators", "refuse"]

security_logger = logging.getLogger("djws.security")


class WebSocketAuthenticationMiddleware:
    """Authenticate WebSocket handshakes with ``WEBSOCKET_AUTHENTICATION_CLASSES``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        # Named get_response: djws.server.stack follows the chain by that name.
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if getattr(request, "websocket_upgrade", None) is not None:
            refusal = authenticate(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)


@functools.cache
def _load(paths: tuple[str, ...]) -> tuple[Authenticator, ...]:
    loaded: list[Authenticator] = []
    for path in paths:
        cls = import_string(path)
        drf = sys.modules.get("rest_framework.authentication")
        if drf is not None and isinstance(cls, type) and issubclass(cls, drf.BaseAuthentication):
            from .drf import DRFAuthenticator

            loaded.append(DRFAuthenticator(cls()))
        else:
            loaded.append(cls())
    return tuple(loaded)


def authenticators() -> Sequence[Authenticator]:
    """Instances of ``WEBSOCKET_AUTHENTICATION_CLASSES``, in order (DRF's adapted)."""
    return _load(tuple(settings.WEBSOCKET_AUTHENTICATION_CLASSES))


def authenticate(request: HttpRequest) -> HttpResponse | None:
    """Authenticate a handshake: set ``request.user``, or return the refusal to send.

    Every handshake gets ``request.auth`` and ``request.successful_authenticator``:
    None when no class authenticated it (the session's user, or anonymous, as
    without this middleware). No session is created or changed.
    """
    if not hasattr(request, "user"):
        raise ImproperlyConfigured(
            "djws.auth.WebSocketAuthenticationMiddleware needs Django's "
            "AuthenticationMiddleware before it in MIDDLEWARE."
        )
    request.auth = request.successful_authenticator = None  # type: ignore[attr-defined]
    failure: AuthenticationFailed | None = None
    for authenticator in authenticators():
        try:
            result = authenticator.authenticate(request)
        except AuthenticationFailed as exc:
            if exc.conclusive:
                return refuse(request, exc)
            failure = failure or exc
            continue
        if result is not None:
            _set_user(request, authenticator, *result)
            return None
    if failure is not None:
        return refuse(request, failure)
    _warn_unread(request)
    return None


def _set_user(request: HttpRequest, authenticator: Any, user: Any, auth: Any) -> None:
    request.user = user
    request.auth = auth  # type: ignore[attr-defined]
    request.successful_authenticator = getattr(authenticator, "authentication", authenticator)  # type: ignore[attr-defined]

    async def auser() -> Any:
        return user

    request.auser = auser


def refuse(request: HttpRequest, exc: AuthenticationFailed) -> HttpResponse:
    """Log ``exc`` on ``djws.security`` and return its 401 (or 403)."""
    status = 401 if exc.challenge else 403
    security_logger.warning(
        "%s (%s): %s",
        "Unauthorized" if status == 401 else "Forbidden",
        exc.reason,
        request.path,
        extra={"request": request, "status_code": status},
    )
    response = HttpResponse(
        f"{exc.message}\n", status=status, content_type="text/plain; charset=utf-8"
    )
    if exc.challenge:
        response["WWW-Authenticate"] = exc.challenge
    response["Content-Length"] = str(len(response.content))
    return response


def _warn_unread(request: HttpRequest) -> None:
    """Log the credentials no class reads: the client thinks it logged in, and did not."""
    upgrade = request.websocket_upgrade  # type: ignore[attr-defined]
    read = {kind for a in authenticators() for kind in getattr(a, "kinds", ())}
    for credential in upgrade.handshake.credentials:
        if credential.kind not in read:
            security_logger.warning(
                "A %s came in the %s of a handshake to %s, but no class in "
                "WEBSOCKET_AUTHENTICATION_CLASSES reads %ss: it was ignored. Add %s.",
                credential.kind,
                credential.source,
                request.path,
                credential.kind,
                "'djws.auth.TicketAuthentication'"
                if credential.kind == TICKET
                else "a Django REST framework authentication class",
                extra={"request": request},
            )
