"""htmx over a WebSocket: what ``ws-send`` sent, as a Django form reads it, and swaps back.

htmx's WebSocket support sends a form as JSON: htmx 2's extension
(``htmx-ext-ws``: ``hx-ext="ws" ws-connect ws-send``) sends the form's values
and a ``HEADERS`` object; htmx 4 (``hx-ws:connect``, ``hx-ws:send``, the
``hx-ws`` extension shipped with it) sends the values and a ``headers``
object. :func:`read` takes either and gives the values as a
:class:`~django.http.QueryDict` a form binds, multi-valued fields (checkboxes,
multiple selects) as lists::

    from djws.live import htmx

    @websocket
    def comments(request, ws, pk):
        ws.join(live.stream_name(post))
        for message in ws:
            sent = htmx.read(message)
            form = CommentForm(sent.data)
            if form.is_valid():
                form.save()                          # broadcasts_to tells every page
                form = CommentForm()
            ws.send(htmx.replace("comment-form", template="blog/form.html",
                                 context={"form": form}, request=request))

What the server sends back is HTML whose top-level elements htmx swaps
*out of band*, by id: the helpers below wrap content so (``hx-swap-oob``), the
same markup for htmx 2 and 4. ``target`` is an element's id, ``targets`` a CSS
selector. Content is escaped unless marked safe (a rendered template is);
:func:`djws.live.per_user` content gives a :class:`~djws.live.PerUser`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, QueryDict
from django.utils.datastructures import CaseInsensitiveMapping
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .rendering import PerUser, add_attributes, content

__all__ = [
    "Sent",
    "after",
    "append",
    "before",
    "prepend",
    "read",
    "remove",
    "replace",
    "swap",
    "update",
]

_ID = re.compile(r"^[A-Za-z][\w-]*$")


@dataclass(frozen=True)
class Sent:
    """A message htmx sent over a WebSocket, as :func:`read` found it."""

    #: The form's values (and ``hx-vals``), as a form binds them.
    data: QueryDict
    #: The headers htmx sent with them, case-insensitive: ``sent.headers["HX-Trigger"]``.
    headers: Mapping[str, str]
    #: 2 or 4: the htmx that sent it.
    version: int

    @property
    def trigger(self) -> str | None:
        """The id of the element that sent it (htmx 4: from ``HX-Source``)."""
        if self.version == 2:
            return self.headers.get("HX-Trigger") or None
        return _id_of(self.headers.get("HX-Source"))

    @property
    def trigger_name(self) -> str | None:
        """The ``name`` of the element that sent it (htmx 2 only sends it)."""
        return self.headers.get("HX-Trigger-Name") or None

    @property
    def target(self) -> str | None:
        """The id of the element the response is meant for, if it has one."""
        if self.version == 2:
            return self.headers.get("HX-Target") or None
        return _id_of(self.headers.get("HX-Target"))

    @property
    def current_url(self) -> str | None:
        """The URL of the page that sent it."""
        return self.headers.get("HX-Current-URL") or None


def _id_of(identifier: str | None) -> str | None:
    """The id in htmx 4's ``"form#comment-form"`` element identifiers."""
    if not identifier or "#" not in identifier:
        return None
    return identifier.split("#", 1)[1] or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def read(message: str | bytes) -> Sent:
    """Read what htmx 2's or htmx 4's ``ws-send`` sent.

    Values are strings; several values of one name, lists of them; numbers
    and booleans of ``hx-vals`` as JSON writes them (``"2"``, ``"true"``);
    nulls are left out. Raise ValueError for a message htmx did not send.
    """
    try:
        sent = json.loads(message)
    except ValueError:
        raise ValueError(f"not an htmx message (not JSON): {message[:60]!r}") from None
    if not isinstance(sent, dict):
        raise ValueError(f"not an htmx message (not a JSON object): {message[:60]!r}")
    if isinstance(sent.get("HEADERS"), dict):
        version, headers = 2, sent.pop("HEADERS")
    elif isinstance(sent.get("headers"), dict):
        version, headers = 4, sent.pop("headers")
    else:
        raise ValueError("not an htmx message: it has no HEADERS (htmx 2) or headers (htmx 4)")
    data = QueryDict(mutable=True)
    for name, value in sent.items():
        for item in value if isinstance(value, list) else [value]:
            text = _text(item)
            if text is not None:
                data.appendlist(name, text)
    data._mutable = False
    texts = {str(k): t for k, v in headers.items() if (t := _text(v)) is not None}
    return Sent(data, CaseInsensitiveMapping(texts), version)


def _selector(target: str | None, targets: str | None, caller: str) -> str:
    if (target is None) == (targets is None):
        raise TypeError(f"htmx.{caller}() needs a target id or a targets selector (one of them)")
    if targets is not None:
        return targets
    assert target is not None
    if not _ID.match(target):
        raise ValueError(f"{target!r} is not an id a selector can name: use targets='...'")
    return f"#{target}"


def swap(
    style: str,
    target: str | None = None,
    value: Any = "",
    *,
    targets: str | None = None,
    template: str | None = None,
    context: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> SafeString | PerUser:
    """The content, swapped into the target with htmx's swap ``style`` (``beforeend``...).

    Wrapped in a ``<div hx-swap-oob="style:selector">`` whose children are
    swapped (htmx drops the wrapper for every style but ``outerHTML``, which
    :func:`replace` does differently). A table's rows need a wrapper that may
    hold them: write the ``<tbody hx-swap-oob=...>`` in the template instead.
    """
    if style == "outerHTML":
        raise ValueError("use htmx.replace() for outerHTML: the content itself is swapped")
    selector = _selector(target, targets, style)
    body = content(value, template, context, request)
    opening = format_html('<div hx-swap-oob="{}:{}">', style, selector)
    if isinstance(body, PerUser):
        return body.wrap(opening, "</div>")
    return format_html("{}{}</div>", opening, body)


def append(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Add the content at the end of the target's children (``beforeend``)."""
    return swap("beforeend", target, value, **kwargs)


def prepend(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Add the content at the start of the target's children (``afterbegin``)."""
    return swap("afterbegin", target, value, **kwargs)


def before(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Insert the content before the target element (``beforebegin``)."""
    return swap("beforebegin", target, value, **kwargs)


def after(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Insert the content after the target element (``afterend``)."""
    return swap("afterend", target, value, **kwargs)


def update(target: str | None = None, value: Any = "", **kwargs: Any) -> SafeString | PerUser:
    """Replace the target's children with the content (``innerHTML``)."""
    return swap("innerHTML", target, value, **kwargs)


def remove(target: str | None = None, *, targets: str | None = None) -> SafeString:
    """Remove the target element (``delete``)."""
    selector = _selector(target, targets, "remove")
    return format_html('<div hx-swap-oob="delete:{}"></div>', selector)


def replace(
    target: str | None = None,
    value: Any = "",
    *,
    targets: str | None = None,
    template: str | None = None,
    context: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> SafeString | PerUser:
    """Replace the target element with the content, which must be one element.

    ``hx-swap-oob="outerHTML:selector"`` is added to the content's first tag.
    """
    selector = _selector(target, targets, "replace")
    attribute = format_html('hx-swap-oob="outerHTML:{}"', selector)
    body = content(value, template, context, request)
    if isinstance(body, PerUser):
        return body.with_attributes(attribute)
    return add_attributes(body, attribute)
