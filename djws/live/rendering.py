"""Fragments rendered for each member, with its own request: :func:`per_user`.

::

    from djws import broadcast, live

    broadcast.publish("blog.post:42", live.per_user("blog/comment.html", {"comment": comment}))

The template's name and context travel to every worker that has members (as
JSON; model instances by reference, loaded again by each worker), and each
worker renders the template with a member's own request -- ``request.user``,
``perms``, the context processors -- **once per distinct user** among the
members it delivers the message to (:mod:`djws.broadcast.tailor`). What the
template shows a user is what that user may see; ten sockets of one user cost
one render.

A :class:`PerUser` is a sequence of *parts*: text (sent as it is) and
templates (rendered per user). The helpers of :mod:`.turbo` and :mod:`.htmx`
wrap one in their markup and return a :class:`PerUser` again, and ``+`` joins
them with each other and with strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.http import HttpRequest
from django.template.loader import get_template, render_to_string
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from .. import db

__all__ = ["MODEL_KEY", "PerUser", "add_attributes", "content", "per_user", "prepare"]

#: How a model instance travels in a context: ``{"djws.model": "blog.post", "pk": 42}``.
MODEL_KEY = "djws.model"

_START_TAG = re.compile(r"\A(\s*<[A-Za-z][^\s/>]*)")


class _Encoder(DjangoJSONEncoder):
    """Django's JSON encoder, with model instances by reference."""

    def default(self, o: Any) -> Any:
        if isinstance(o, Model):
            if o.pk is None:
                raise TypeError(f"cannot send an unsaved {o._meta.label} to be rendered")
            return {MODEL_KEY: o._meta.label_lower, "pk": o.pk}
        return super().default(o)


def _load_model(obj: dict[str, Any]) -> Any:
    """A context's model reference back as the instance (one query), or ``obj`` as it is."""
    if len(obj) == 2 and MODEL_KEY in obj and "pk" in obj:
        model = apps.get_model(obj[MODEL_KEY])
        return model._default_manager.get(pk=obj["pk"])
    return obj


class PerUser:
    """Text and templates, the templates rendered for each member's user by its worker.

    Publish it like any message (``broadcast.publish``, ``send_to_user``,
    :func:`djws.live.publish`), or as the ``html=`` version of one. The context
    must be JSON (Django's encoder: dates, decimals, UUIDs) and model instances,
    which each worker loads again by primary key when it renders: they show the
    row as it is then, and a row deleted meanwhile makes that render fail (it is
    logged, and nothing is sent for it).
    """

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[str | dict[str, Any]]) -> None:
        #: Text (str) and templates (``{"template": name, "context": {...}}``).
        self.parts: tuple[str | dict[str, Any], ...] = tuple(parts)

    def wrap(self, before: str, after: str = "") -> PerUser:
        """This, between ``before`` and ``after`` (markup, sent as it is)."""
        return PerUser((before, *self.parts, after))

    def with_attributes(self, attributes: str) -> PerUser:
        """This, with ``attributes`` added to the first element of its first template."""
        parts = list(self.parts)
        for index, part in enumerate(parts):
            if isinstance(part, dict):
                parts[index] = {**part, "attributes": part.get("attributes", "") + attributes}
                return PerUser(parts)
            if part.strip():
                raise ValueError("the content does not start with its template")
        raise ValueError("the content has no template to add attributes to")

    def __add__(self, other: object) -> PerUser:
        if isinstance(other, PerUser):
            return PerUser((*self.parts, *other.parts))
        if isinstance(other, str):
            return PerUser((*self.parts, other))
        return NotImplemented

    def __radd__(self, other: object) -> PerUser:
        if isinstance(other, str):
            return PerUser((other, *self.parts))
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PerUser) and other.parts == self.parts

    def __hash__(self) -> int:
        return hash(self.djws_wire())

    def __repr__(self) -> str:
        templates = [p["template"] for p in self.parts if isinstance(p, dict)]
        return f"<PerUser {', '.join(templates)}>"

    def djws_wire(self) -> bytes:
        """The broadcast wire bytes (:mod:`djws.broadcast.message`): ``b"r"`` and JSON."""
        try:
            text = json.dumps({"parts": self.parts}, cls=_Encoder, separators=(",", ":"))
        except TypeError as exc:
            raise TypeError(f"cannot publish this per-user context: {exc}") from None
        return b"r" + text.encode()


def per_user(template_name: str, context: dict[str, Any] | None = None) -> PerUser:
    """``template_name`` with ``context``, rendered by each worker for each member's user."""
    if not isinstance(template_name, str) or not template_name:
        raise TypeError(f"per_user() needs a template name, not {template_name!r}")
    get_template(template_name)  # a typo fails here, in the caller, not in every worker
    return PerUser([{"template": template_name, "context": dict(context or {})}])


def content(
    value: Any = "",
    template: str | None = None,
    context: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> SafeString | PerUser:
    """The markup of an action's content: ``value`` escaped (unless marked safe, as
    rendered templates are), a :class:`PerUser` as it is, or ``template`` rendered now
    with ``context`` (and ``request``, for its context processors)."""
    if template is not None:
        if value != "":
            raise TypeError("give the content, or a template to render it, not both")
        return render_to_string(template, context, request)
    if context is not None or request is not None:
        raise TypeError("context= and request= go with template=")
    if isinstance(value, PerUser):
        return value
    return conditional_escape(value)


def add_attributes(html: str, attributes: str) -> SafeString:
    """``html`` with ``attributes`` (markup) added to its first start tag."""
    found = _START_TAG.match(html)
    if found is None:
        raise ValueError(f"the content is not an HTML element: {html[:60]!r}")
    # Both are markup already: the content rendered or escaped, the attributes built
    # with format_html(); this only puts one inside the other's first tag.
    return mark_safe(f"{found.group(1)} {attributes}{html[found.end() :]}")  # noqa: S308


def prepare(payload: bytes) -> Callable[[Any], str]:
    """Read a :class:`PerUser` message (the hub's renderer, once per message per worker).

    The templates are loaded and the model instances of the contexts fetched now;
    the function returned renders the whole for one request, and then gives the
    greenlet's database connections back (it may be the broadcast listener's).
    """
    parts = json.loads(payload, object_hook=_load_model)["parts"]
    steps: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            steps.append(part)
        else:
            steps.append((get_template(part["template"]), part["context"], part.get("attributes")))
    db.release_connections()

    def render(request: Any) -> str:
        out = []
        try:
            for step in steps:
                if isinstance(step, str):
                    out.append(step)
                    continue
                template, context, attributes = step
                html = template.render(context, request)
                out.append(add_attributes(html, attributes) if attributes else html)
        finally:
            db.release_connections()
        return "".join(out)

    return render
