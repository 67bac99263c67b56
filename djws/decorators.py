"""``@websocket``: turn a view into a WebSocket view.

::

    @websocket
    def echo(request, ws):
        for message in ws:
            ws.send(message)

The decorated view is an ordinary Django view from the outside: middleware,
``login_required`` and friends run before it and may refuse with any HTTP
response. Inside, it checks the Origin (403, logged with the setting that would
allow it), finds out who the client is (for ``send_to_user`` /
``send_to_session``: this is the last moment an error can still be an HTTP
500), accepts (the 101 is written only now), attaches the connection to the
broadcast hub, runs your function with the connection, and closes: 1000 when it
returns, 1011 when anything raises after the 101 (the exception is logged with
its traceback and sent to ``got_request_exception``, so error reporters see it).

With ``@websocket(auto_accept=False)`` the view decides inside itself, as a
Channels consumer does in ``connect()``: it gets the connection *pending*, and
either calls ``ws.accept(subprotocol, headers=...)`` or returns any
``HttpResponse``, sent as the real HTTP answer to the handshake. Everything
around the 101 (who the client is, the hub, the database connections) happens
in :meth:`djws.connection.WebSocket.accept`, whoever calls it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, wraps
from typing import Any, overload

from asgiref.sync import iscoroutinefunction
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.http.response import HttpResponseBase

from . import db
from .conf import ServerSettings
from .connection import CloseCode, WebSocket
from .eventstream import event_stream
from .exceptions import ConnectionClosed
from .limits import Limits
from .origin import origin_allowed
from .protocol import http

__all__ = ["WebSocketResponse", "event_stream", "websocket"]

logger = logging.getLogger("djws.request")
security_logger = logging.getLogger("djws.security")

View = Callable[..., Any]


class WebSocketResponse(HttpResponse):
    """What a WebSocket view returns to Django once the connection has ended.

    Its status is 101, so Django logs no error; closing it fires
    ``request_finished``. The worker writes nothing of it: the socket is gone.
    """

    status_code = 101

    def __init__(self, ws: WebSocket) -> None:
        super().__init__()
        self.websocket = ws

    def close(self) -> None:
        """Finish the request (``request_finished``), then unlink what it holds.

        A request sits in reference cycles of Django's own making (the lazy
        ``request.user`` closes over the request; so do ``request.auser`` and
        the messages storage), which only the cyclic collector could free. A
        worker's connections come and go by the thousand, so once nothing can
        use the request any more, its attributes are dropped: reference
        counting alone then frees it, its session and user, and the upgrade.
        """
        try:
            super().close()
        finally:
            request = self.websocket.request
            if request is not None:
                request.__dict__.clear()


class UpgradeRequired(HttpResponse):
    """426: a plain HTTP request reached a WebSocket view."""

    status_code = 426

    def __init__(self) -> None:
        super().__init__(http.UPGRADE_REQUIRED, content_type="text/plain; charset=utf-8")
        for name, value in http.UPGRADE_REQUIRED_HEADERS:
            self[name] = value


@overload
def websocket(view: View) -> View: ...
@overload
def websocket(
    *,
    subprotocols: Sequence[str] = (),
    allowed_origins: Sequence[str] | None = None,
    compression: bool | None = None,
    auto_accept: bool = True,
    limits: Mapping[str, float | None] | None = None,
) -> Callable[[View], View]: ...


def websocket(
    view: View | None = None,
    *,
    subprotocols: Sequence[str] = (),
    allowed_origins: Sequence[str] | None = None,
    compression: bool | None = None,
    auto_accept: bool = True,
    limits: Mapping[str, float | None] | None = None,
) -> Any:
    """Make ``view(request, ws, *args, **kwargs)`` a WebSocket view.

    ``subprotocols``: the subprotocols the view speaks, in order of preference;
    the first one the client also offers is chosen and echoed (``ws.subprotocol``).
    ``allowed_origins``: this view's origin patterns, replacing
    ``WEBSOCKET_ALLOWED_ORIGINS`` (``["*"]`` allows any).
    ``compression``: override ``WEBSOCKET_COMPRESSION`` for this view.
    ``limits``: this view's values of ``WEBSOCKET_LIMITS``' per-connection limits
    (:mod:`djws.limits`), over the setting's; ValueError for an unknown key.
    ``auto_accept=False``: the view accepts itself, with ``ws.accept(subprotocol,
    headers=..., compression=...)``, or refuses by returning an ``HttpResponse``;
    ``subprotocols`` and ``compression`` are then ``ws.accept()``'s to choose.

    Raise TypeError for an ``async def`` view: djws runs views synchronously.
    """
    if not auto_accept and (subprotocols or compression is not None):
        raise TypeError(
            "@websocket(auto_accept=False) leaves the handshake to the view: pass the "
            "subprotocol and compression to ws.accept() rather than to the decorator."
        )

    if limits is not None:
        Limits.read(None).updated(limits)  # ValueError now, at import, for a bad key

    @lru_cache(maxsize=4)  # one ServerSettings per worker: computed once
    def limits_for(config: ServerSettings) -> Limits | None:
        return None if limits is None else config.limits.updated(limits)

    def decorator(view: View) -> View:
        _refuse_async(view)

        @wraps(view)
        def websocket_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            upgrade = getattr(request, "websocket_upgrade", None)
            if upgrade is None:
                return UpgradeRequired()
            origins = upgrade.config.allowed_origins if allowed_origins is None else allowed_origins
            if not origin_allowed(request, origins):
                return _refuse_origin(request, allowed_origins, origins)
            # A subclass when the request was authenticated by a ticket
            # (djws.auth.renewal.TicketWebSocket: it lives as long as its ticket).
            websocket_class = getattr(request, "websocket_class", WebSocket)
            ws = websocket_class(upgrade, request, limits_for(upgrade.config))
            result = None
            try:
                if auto_accept:
                    ws.accept(
                        upgrade.handshake.choose_subprotocol(subprotocols), compression=compression
                    )
                # Without arguments, a plain call: CPython 3.11 runs it in this C
                # frame, which every idle connection would otherwise keep a copy of.
                plain = not (args or kwargs)
                result = view(request, ws) if plain else view(request, ws, *args, **kwargs)
            except ConnectionClosed:
                pass  # the client left while the view was sending: nothing to report
            except Exception:
                if not ws.accepted:
                    raise  # still HTTP: Django answers (PermissionDenied 403, Http404, 500)
                logger.exception(
                    "Error in WebSocket view %s", request.path, extra={"request": request}
                )
                got_request_exception.send(sender=None, request=request)
                if not ws.closed:
                    ws.close(CloseCode.INTERNAL_ERROR, "internal server error")
            finally:
                ws.finish()
                if ws.accepted:
                    db.release_connections()
            if not ws.accepted:
                return _refusal(view, result)
            if isinstance(result, HttpResponseBase):
                logger.error(
                    "The WebSocket view %s returned a %s response after accepting the "
                    "connection; it was not sent.",
                    request.path,
                    result.status_code,
                    extra={"request": request},
                )
            return WebSocketResponse(ws)

        websocket_view._non_atomic_requests = db.ALL_DATABASES  # type: ignore[attr-defined]
        websocket_view.websocket = True  # type: ignore[attr-defined]
        return websocket_view

    if view is not None:
        return decorator(view)
    return decorator


def _name(view: View) -> str:
    return f"{view.__module__}.{getattr(view, '__qualname__', view)}"


def _refuse_async(view: View) -> None:
    """Raise TypeError if ``view`` is a coroutine (or async generator) function."""
    if iscoroutinefunction(view) or inspect.isasyncgenfunction(view):
        raise TypeError(
            f"@websocket cannot make a WebSocket view of {_name(view)}, an async function: "
            "djws runs WebSocket views synchronously, each connection in its own greenlet. "
            f"Write it as a plain function, 'def {view.__name__}(request, ws, ...)', and call "
            "the ORM and other blocking code directly, without await."
        )


def _refusal(view: View, result: Any) -> HttpResponseBase:
    """What a view that did not accept returned: an HTTP response, or it is a bug."""
    if isinstance(result, HttpResponseBase):
        return result
    raise ValueError(
        f"The WebSocket view {_name(view)} returned {result!r} without accepting the "
        "connection. Call ws.accept() to open it, or return an HttpResponse to refuse it."
    )


def _refuse_origin(
    request: HttpRequest, own: Sequence[str] | None, origins: Sequence[str] | None
) -> HttpResponse:
    """Answer 403 to a foreign Origin; log it with what would allow it.

    ``own`` is the view's ``allowed_origins``, ``origins`` the patterns that applied.
    """
    if own is not None:
        fix = f"add it to the view's @websocket(allowed_origins={list(own)!r})"
    elif origins is not None:
        fix = "add it to WEBSOCKET_ALLOWED_ORIGINS"
    else:
        fix = (
            "set WEBSOCKET_ALLOWED_ORIGINS (None by default: the site's own host and "
            "ALLOWED_HOSTS) to a list of the origins to allow, this one and your own"
        )
    security_logger.warning(
        "Forbidden (Origin %r not allowed): %s. To allow it, %s.",
        request.META.get("HTTP_ORIGIN"),
        request.path,
        fix,
        extra={"request": request, "status_code": 403},
    )
    return HttpResponseForbidden(
        "Origin not allowed for this WebSocket.\n", content_type="text/plain; charset=utf-8"
    )
