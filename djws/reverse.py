"""Absolute ``ws://`` / ``wss://`` URLs of the views in ``WEBSOCKET_URLCONF``.

Django's ``reverse()`` gives a path; a browser needs a whole URL, and which host
and port serve WebSockets depends on how the site is deployed:

* **one port** (``runwebsocket --http``, or a Procfile): the page and its
  WebSockets come from the same server. The djws worker marks every request it
  serves with ``environ["djws.server"]``; such a page gets same-origin URLs.
* **two ports** (``runserver`` beside ``runwebsocket``, or two processes behind
  a proxy): the page came from elsewhere, so the URL points at
  ``WEBSOCKET_SERVER_URL``, by default the page's own host name on port 8001
  (``runwebsocket``'s default port).

The scheme follows the page: ``wss`` when ``request.is_secure()`` (browsers
refuse ``ws://`` from an HTTPS page), ``ws`` otherwise.

``WEBSOCKET_SERVER_URL`` takes these forms:

``None`` (default)
    same origin under a djws server, else the page's host name on port 8001;
``":9000"``
    same origin under a djws server, else the page's host name on port 9000;
``"//ws.example.com"``, ``"//ws.example.com:9000/prefix"``
    always that host (and path prefix), scheme following the page;
``"wss://ws.example.com/prefix"``
    always exactly that.

Without a request (a management command, a task), the page's host name is
unknown and ``127.0.0.1`` -- ``runwebsocket``'s default address -- stands in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port
from django.urls import NoReverseMatch, reverse

from .conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = [
    "DEFAULT_PORT",
    "event_stream_url",
    "reverse_websocket",
    "websocket_server_url",
    "websocket_url",
]

#: The port ``WEBSOCKET_SERVER_URL = None`` means; ``runwebsocket``'s default.
DEFAULT_PORT = 8001

_PORT_ONLY = re.compile(r"^:(\d{1,5})$")

#: Names that ``djws.builtin.urls`` gives only with an optional app installed.
_NAMES_OF_APPS = {"djws:chat": "djws.contrib.chat"}


def reverse_websocket(
    viewname: str,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    current_app: str | None = None,
) -> str:
    """Return the path of a WebSocket view, like ``reverse()`` in ``WEBSOCKET_URLCONF``.

    Raise ``NoReverseMatch`` for an unknown name or arguments that fit no route;
    for a built-in server whose app is not installed, say which app to add.
    """
    try:
        return reverse(
            viewname,
            urlconf=_urlconf(),
            args=args,
            kwargs=kwargs,
            current_app=current_app,
        )
    except NoReverseMatch as exc:
        app = _NAMES_OF_APPS.get(viewname) if isinstance(viewname, str) else None
        if app is None or apps.is_installed(app):
            raise
        raise NoReverseMatch(
            f'{exc} {viewname!r} is a view of {app}, which is not installed: add "{app}" '
            "to INSTALLED_APPS (then run manage.py migrate)."
        ) from exc


def websocket_url(
    viewname: str,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    *,
    request: HttpRequest | None = None,
    current_app: str | None = None,
) -> str:
    """Return the absolute WebSocket URL of a view, for a page answering ``request``.

    ``websocket_url("chat", args=["lobby"], request=request)`` gives
    ``"ws://127.0.0.1:8001/chat/lobby/"`` for a page from ``runserver``, and
    ``"wss://example.com/chat/lobby/"`` for an HTTPS page from
    ``runwebsocket --http``. See the module docstring for the rules.
    """
    path = reverse_websocket(viewname, args=args, kwargs=kwargs, current_app=current_app)
    return websocket_server_url(request) + path


def event_stream_url(
    viewname: str,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    *,
    request: HttpRequest | None = None,
    current_app: str | None = None,
) -> str:
    """Return the absolute URL of an ``@event_stream`` view, for ``EventSource``.

    The same server as :func:`websocket_url`, with ``http`` / ``https``.
    """
    url = websocket_url(viewname, args, kwargs, request=request, current_app=current_app)
    return "http" + url.removeprefix("ws")


def websocket_server_url(request: HttpRequest | None = None) -> str:
    """Return the scheme, host, port and prefix WebSocket paths are appended to.

    The result has no trailing slash: ``reverse()`` paths start with one.
    """
    secure = request is not None and request.is_secure()
    scheme = "wss" if secure else "ws"
    configured = settings.WEBSOCKET_SERVER_URL
    if configured is not None and not isinstance(configured, str):
        raise ImproperlyConfigured(
            f"WEBSOCKET_SERVER_URL must be a string or None, not {configured!r}."
        )
    port_only = _PORT_ONLY.match(configured) if configured else None
    if configured and not port_only:
        return _configured_url(configured, scheme)
    if request is not None and request.META.get("djws.server"):
        # This page was served by a djws worker: its WebSockets are right here.
        return f"{scheme}://{request.get_host()}"
    port = int(port_only.group(1)) if port_only else DEFAULT_PORT
    host = split_domain_port(request.get_host())[0] if request is not None else ""
    return f"{scheme}://{host or '127.0.0.1'}:{port}"


def _configured_url(configured: str, page_scheme: str) -> str:
    """Validate an absolute or scheme-relative ``WEBSOCKET_SERVER_URL``."""
    parts = urlsplit(configured)
    if parts.scheme not in ("", "ws", "wss") or not parts.netloc:
        raise ImproperlyConfigured(
            f"WEBSOCKET_SERVER_URL {configured!r} is not a WebSocket server URL: use "
            "'wss://host[:port][/prefix]', '//host[:port][/prefix]' (scheme of the page), "
            "':port' (the page's host on that port) or None."
        )
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"WEBSOCKET_SERVER_URL {configured!r} may not have a query or a fragment."
        )
    return f"{parts.scheme or page_scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _urlconf() -> Any:
    urlconf = settings.WEBSOCKET_URLCONF
    if not urlconf:
        raise ImproperlyConfigured(
            "WEBSOCKET_URLCONF is not set: WebSocket URLs are reversed in it. Add "
            "WEBSOCKET_URLCONF = 'yourproject.websocket_urls' to your settings."
        )
    return urlconf
