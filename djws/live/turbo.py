"""Turbo Streams: ``<turbo-stream>`` actions, rendered from templates or strings.

::

    from djws.live import turbo

    turbo.append("comments", template="blog/comment.html", context={"comment": c})
    # <turbo-stream action="append" target="comments"><template>...</template></turbo-stream>
    turbo.replace(live.dom_id(c), template="blog/comment.html", context={"comment": c})
    turbo.update("comment-count", "12")
    turbo.remove("comment-7")
    turbo.refresh()

Each returns the markup as a safe string, ready to publish (:func:`djws.live.publish`),
to send on a WebSocket, or to return from a view (:func:`response`, for a form
posted by Turbo). Actions join with ``+``. Content is escaped unless it is
marked safe, as a rendered template is; attribute values are always escaped.
Content made with :func:`djws.live.per_user` gives a
:class:`~djws.live.PerUser`: the action, its template rendered by each worker
for each member's user.

``target`` is an element's id; ``targets`` a CSS selector for every element it
matches (one of them). Other keyword arguments become attributes:
``method="morph"`` (Turbo 8, for ``replace`` and ``update``), ``request_id``
(``refresh``), with ``_`` written ``-``.
"""

from __future__ import annotations

import re
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .rendering import PerUser, content

__all__ = [
    "ACTIONS",
    "CONTENT_TYPE",
    "action",
    "after",
    "append",
    "before",
    "prepend",
    "refresh",
    "remove",
    "replace",
    "response",
    "update",
]

#: Turbo's own actions (custom ones, registered in the page's ``StreamActions``, work too).
ACTIONS = ("append", "prepend", "replace", "update", "remove", "before", "after", "refresh")
#: What Turbo accepts a stream of actions as, in answer to a form it submitted.
CONTENT_TYPE = "text/vnd.turbo-stream.html; charset=utf-8"

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_EMPTY = ("remove", "refresh")


def action(
    name: str,
    target: str | None = None,
    value: Any = "",
    *,
    targets: str | None = None,
    template: str | None = None,
    context: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    **attributes: Any,
) -> SafeString | PerUser:
    """One ``<turbo-stream action="name">``, with its content in a ``<template>``."""
    if not _NAME.match(name):
        raise ValueError(f"not a Turbo Stream action name: {name!r}")
    if name != "refresh" and (target is None) == (targets is None):
        raise TypeError(f"turbo.{name}() needs a target id or a targets selector (one of them)")
    pairs = [("action", name)]
    if target is not None:
        pairs.append(("target", target))
    if targets is not None:
        pairs.append(("targets", targets))
    pairs += [(key.replace("_", "-"), str(val)) for key, val in attributes.items()]
    opening = format_html(
        "<turbo-stream{}>", format_html_join("", ' {}="{}"', ((k, v) for k, v in pairs))
    )
    body = content(value, template, context, request)
    if name in _EMPTY and body == "":
        return format_html("{}</turbo-stream>", opening)
    if isinstance(body, PerUser):
        return body.wrap(f"{opening}<template>", "</template></turbo-stream>")
    return format_html("{}<template>{}</template></turbo-stream>", opening, body)


def append(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Add the content at the end of the target's children."""
    return action("append", target, value, **kwargs)


def prepend(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Add the content at the start of the target's children."""
    return action("prepend", target, value, **kwargs)


def replace(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Replace the target element with the content."""
    return action("replace", target, value, **kwargs)


def update(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Replace the target's children with the content."""
    return action("update", target, value, **kwargs)


def before(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Insert the content before the target element."""
    return action("before", target, value, **kwargs)


def after(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Insert the content after the target element."""
    return action("after", target, value, **kwargs)


def remove(target: str | None = None, *, targets: str | None = None) -> SafeString:
    """Remove the target element."""
    return cast(SafeString, action("remove", target, targets=targets))


def refresh(**attributes: Any) -> SafeString:
    """Make the page reload itself (Turbo 8: morphed if the page asks for it)."""
    return cast(SafeString, action("refresh", **attributes))


def response(*actions: SafeString | str, status: int = 200) -> HttpResponse:
    """An HTTP response of ``actions``, for a form Turbo submitted (``Accept:`` the stream type)."""
    return HttpResponse("".join(actions), content_type=CONTENT_TYPE, status=status)
