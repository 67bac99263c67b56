"""Stream names, signed by the server: what a page may listen to, without a view.

A *stream* is a broadcast group that pages listen to through djws's endpoint
(:mod:`.views`). Its name comes from a model instance, strings and numbers::

    stream_name(post)                 # "blog.post:42"
    stream_name(post, "comments")     # "blog.post:42:comments"
    stream_name("announcements")      # "announcements"

A page gets the name **signed** (:func:`sign`: Django's :mod:`django.core.signing`,
with a salt of its own, so no other signed value of the site passes for one),
rendered by ``{% turbo_stream_from %}`` or ``{% live_stream_url %}``. The
endpoint verifies the signature before the handshake completes: a name the
server did not sign, or one older than ``WEBSOCKET_STREAM_MAX_AGE``, is
refused with 403. Nothing else is needed for "this page listens to post 42":
whoever could see the page may listen.

Streams that need more -- a user's own notifications -- have a check:
``WEBSOCKET_STREAM_CHECKS`` maps name patterns (:mod:`fnmatch`: ``"user:*"``)
to callables ``check(request, name)`` (or their dotted paths) that return
whether the request may listen, like ``user_passes_test``. Every check whose
pattern matches must pass.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch
from django.utils.module_loading import import_string

from ..broadcast.members import HTML_PARAM
from ..broadcast.names import check_group
from ..conf import settings
from ..reverse import event_stream_url, websocket_url

__all__ = ["SALT", "TRANSPORTS", "allowed", "dom_id", "sign", "stream_name", "stream_url", "unsign"]

#: How a page may listen: a WebSocket, or Server-Sent Events.
TRANSPORTS = ("websocket", "sse")
#: The name of the endpoint (:mod:`djws.live.urls`) in ``WEBSOCKET_URLCONF``.
ENDPOINT = "djws_live:stream"

#: The salt of stream signatures: a signature made for anything else is not one.
SALT = "djws.live.stream"

Check = Callable[[HttpRequest, str], Any]


def _part(part: Any) -> str:
    if isinstance(part, Model):
        if part.pk is None:
            raise ValueError(f"an unsaved {part._meta.label} has no stream name")
        return f"{part._meta.label_lower}:{part.pk}"
    if isinstance(part, (str, int)) and not isinstance(part, bool):
        return str(part)
    raise TypeError(f"a stream name is made of model instances, str and int, not {part!r}")


def stream_name(*parts: Any) -> str:
    """The group name of a stream: its parts joined with ``:``, a model as ``label:pk``.

    A name given whole (one str) is returned as it is. Raise ValueError for a
    name a group cannot have (empty, too long, or djws's own ``djws.*``).
    """
    if not parts:
        raise TypeError("stream_name() needs at least one part")
    name = ":".join(_part(part) for part in parts)
    check_group(name, joining=True)
    return name


def dom_id(instance: Model, prefix: str = "") -> str:
    """The HTML id of ``instance`` in pages and stream actions: ``"comment-7"``.

    With a prefix, ``"edit-comment-7"``. Stream actions that replace or remove
    an instance find its element by this id.
    """
    name = f"{instance._meta.model_name}-{instance.pk}"
    return f"{prefix}-{name}" if prefix else name


def sign(*parts: Any) -> str:
    """The signed name of the stream ``stream_name(*parts)``, for a page's URL."""
    return signing.dumps(stream_name(*parts), salt=SALT, compress=False)


def stream_url(
    *parts: Any,
    request: HttpRequest | None = None,
    transport: str = "websocket",
    html: bool = True,
) -> str:
    """The absolute URL a page listens to the stream ``stream_name(*parts)`` at.

    ``transport`` ``"websocket"`` gives a ``ws://`` / ``wss://`` URL, ``"sse"``
    an ``http(s)://`` one for ``EventSource``; the host and port follow
    ``request`` as for ``{% websocket_url %}``. ``html`` marks the client as a
    page that swaps in HTML (``djws-html=1``): it gets the HTML version of
    messages that have one.
    """
    if transport not in TRANSPORTS:
        raise ValueError(f"transport is 'websocket' or 'sse', not {transport!r}")
    build = websocket_url if transport == "websocket" else event_stream_url
    try:
        url = build(ENDPOINT, request=request)
    except NoReverseMatch as exc:
        raise NoReverseMatch(
            f"{exc} Signed streams are served by djws's endpoint: add "
            'path("live/", include("djws.live.urls")) to your WEBSOCKET_URLCONF.'
        ) from exc
    query = [("stream", sign(*parts))] + ([(HTML_PARAM, "1")] if html else [])
    return f"{url}?{urlencode(query)}"


def unsign(token: str) -> str:
    """The stream name in a signed ``token``.

    Raise :exc:`django.core.signing.BadSignature` when the server did not sign
    it, and its subclass ``SignatureExpired`` when it is older than
    ``WEBSOCKET_STREAM_MAX_AGE`` seconds.
    """
    name = signing.loads(token, salt=SALT, max_age=settings.WEBSOCKET_STREAM_MAX_AGE)
    if not isinstance(name, str):
        raise signing.BadSignature("not a stream name")
    return name


def checks() -> list[tuple[str, Check]]:
    """``WEBSOCKET_STREAM_CHECKS`` as ``(pattern, callable)`` pairs."""
    configured = settings.WEBSOCKET_STREAM_CHECKS or {}
    if not isinstance(configured, dict):
        raise ImproperlyConfigured(
            "WEBSOCKET_STREAM_CHECKS is a dict: stream name pattern -> check(request, name) "
            f"or its dotted path, not {configured!r}"
        )
    pairs = []
    for pattern, check in configured.items():
        pairs.append((pattern, import_string(check) if isinstance(check, str) else check))
    return pairs


def allowed(request: HttpRequest, name: str) -> bool:
    """Whether ``request`` may listen to stream ``name``: every matching check passes."""
    return all(
        check(request, name) for pattern, check in checks() if fnmatch.fnmatchcase(name, pattern)
    )
