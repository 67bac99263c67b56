"""Django's own WSGI handler, pointed at ``WEBSOCKET_URLCONF``.

Nothing of Django's request cycle is copied: the request class only sets
``request.urlconf``, which Django's resolver honours, so the project's full
``MIDDLEWARE`` runs, ``request_started`` / ``request_finished`` fire, and
exceptions raised before the view accepts become Django's usual responses
(403 for ``PermissionDenied``, 404 for no route, the debug page or 500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.handlers.wsgi import WSGIHandler, WSGIRequest

from .conf import settings
from .server.stack import inline_middleware_calls

if TYPE_CHECKING:
    from .server.handoff import Upgrade

__all__ = ["WebSocketDispatcher", "WebSocketRequest"]


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
        """Build Django's middleware chain, then make its calls cost no C frame.

        A WebSocket view waits inside the whole chain for hours: every C frame
        on the way is copied for each waiting connection (:mod:`djws.server.stack`).
        """
        super().load_middleware(is_async)
        if not is_async:
            inline_middleware_calls(getattr(self, "_middleware_chain", None))
