"""Django's own WSGI handler, pointed at ``WEBSOCKET_URLCONF``.

Nothing of Django's request cycle is copied: the request class only sets
``request.urlconf``, which Django's resolver honours, so the project's full
``MIDDLEWARE`` runs, ``request_started`` / ``request_finished`` fire, and
exceptions raised before the view accepts become Django's usual responses
(403 for ``PermissionDenied``, 404 for no route, the debug page or 500).

One answer to a WebSocket handshake is changed on its way out: a redirect to
the login page (``login_required``, ``LoginRequiredMiddleware``) becomes
``403 Forbidden`` with a plain-text body naming the login page. A browser's
WebSocket cannot follow a redirect, and the login page would send the user back
to the WebSocket's URL (``?next=/ws/...``) -- a page that does not exist.

A handshake that presented a ticket or token (:mod:`djws.protocol.credentials`)
which no middleware looked at is logged (``djws.security``), naming
``djws.auth.WebSocketAuthenticationMiddleware``: its client was taken for
anonymous, and would otherwise never know why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase, HttpResponseRedirectBase

from .conf import settings
from .protocol.credentials import Credential
from .server.stack import inline_middleware_calls

if TYPE_CHECKING:
    from .server.handoff import Upgrade

__all__ = ["WebSocketDispatcher", "WebSocketRequest", "login_page_of"]

security_logger = logging.getLogger("djws.security")


class WebSocketRequest(WSGIRequest):
    """A request for a WebSocket view; resolved against ``WEBSOCKET_URLCONF``."""

    def __init__(self, environ: dict[str, Any]) -> None:
        super().__init__(environ)
        self.urlconf = settings.WEBSOCKET_URLCONF
        #: The pending upgrade that ``@websocket`` accepts, or None.
        self.websocket_upgrade: Upgrade | None = environ.get("djws.upgrade")


class WebSocketDispatcher(WSGIHandler):
    """Run WebSocket requests through Django's full handler and middleware."""

    request_class = WebSocketRequest

    def load_middleware(self, is_async: bool = False) -> None:
        """Build Django's middleware chain, then wrap it to refuse handshakes' login redirects."""
        super().load_middleware(is_async)
        if not is_async:
            # A WebSocket view waits inside the whole chain for hours: every C
            # frame on the way is copied for each waiting connection
            # (djws.server.stack), so the chain's calls are made direct first.
            inline_middleware_calls(getattr(self, "_middleware_chain", None))
        chain: Callable[[HttpRequest], HttpResponseBase] = self._middleware_chain  # type: ignore[has-type]

        def refuse_login_redirects(request: HttpRequest) -> HttpResponseBase:
            response: HttpResponseBase = chain(request)
            upgrade = getattr(request, "websocket_upgrade", None)
            if upgrade is None:
                return response  # not a WebSocket handshake (Server-Sent Events...)
            if upgrade.handshake.credentials and not hasattr(request, "successful_authenticator"):
                _warn_unauthenticated(request, upgrade.handshake.credentials[0])
            login_page = login_page_of(request, response)
            if login_page is None:
                return response
            # Not closed: closing a response sends request_finished, due once, at the end.
            refusal = HttpResponseForbidden(
                f"Authentication required: log in at {login_page}, then open this "
                "WebSocket again.\n",
                content_type="text/plain; charset=utf-8",
            )
            refusal["Content-Length"] = str(len(refusal.content))
            return refusal

        self._middleware_chain = refuse_login_redirects


def _warn_unauthenticated(request: HttpRequest, credential: Credential) -> None:
    """Log a credential that no middleware looked at: the client was taken as anonymous."""
    security_logger.warning(
        "A %s came in the %s of a handshake to %s, but no middleware authenticated it: "
        "the request was handled as its session's or anonymous. Add "
        "'djws.auth.WebSocketAuthenticationMiddleware' to MIDDLEWARE, after "
        "AuthenticationMiddleware.",
        credential.kind,
        credential.source,
        request.path,
        extra={"request": request},
    )


def login_page_of(request: HttpRequest, response: HttpResponseBase) -> str | None:
    """The login page ``response`` redirects the handshake to, or None if it is not that.

    A redirect to ``LOGIN_URL``, or one that carries the request's own URL in
    its query string (``?next=/ws/chat/``, whatever the parameter is named):
    log in, then come back here.
    """
    if not isinstance(response, HttpResponseRedirectBase):
        return None
    target = urlsplit(response["Location"])
    login_url = django_settings.LOGIN_URL  # a path, a URL, or a view name (not comparable)
    if not (isinstance(login_url, str) and "/" in login_url) or (
        target.path != urlsplit(login_url).path
    ):
        here = request.get_full_path()
        if not any(_path_and_query(value) == here for _name, value in parse_qsl(target.query)):
            return None
    return urlunsplit(target._replace(query="", fragment=""))


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))
