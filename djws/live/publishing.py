"""Publish to the pages of a stream from any code, and on a model's saves and deletes.

::

    live.publish(post, turbo.append("comments", template="blog/comment.html",
                                    context={"comment": comment}))

    # blog/apps.py, in ready() (or at the end of models.py):
    live.broadcasts_to(Comment, lambda comment: comment.post, template="blog/comment.html")

:func:`broadcasts_to` is Rails' ``broadcasts_to`` for Django models: when an
instance is created it is appended to the ``target`` element of every page
listening to its stream; when it is saved again its element (``dom_id``:
``"comment-7"``) is replaced; when it is deleted its element is removed. The
actions are published once the transaction commits (at once outside of one), as
Turbo Stream actions or htmx swaps (``format``), rendered once without a
request or, with ``per_user=True``, by every worker for each member's user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from django.utils.text import slugify

from .. import broadcast
from ..broadcast.position import Position
from . import htmx, turbo
from .rendering import per_user as per_user_content
from .streams import dom_id, stream_name

__all__ = ["Broadcaster", "broadcasts_to", "publish"]

_FORMATS = {"turbo": turbo, "htmx": htmx}


def _name(stream: Any) -> str:
    return stream_name(*stream) if isinstance(stream, tuple) else stream_name(stream)


def publish(stream: Any, *actions: Any) -> Position | None:
    """Publish ``actions`` (markup, or :class:`~djws.live.PerUser`) to a stream's pages.

    ``stream`` is a stream name, a model instance, or a tuple of parts
    (:func:`~djws.live.stream_name`). Several actions go as one message. Return
    its position -- None inside a transaction: it is sent at the commit -- and
    raise :class:`~djws.broadcast.PublishError` if it was not stored, as
    :func:`djws.broadcast.publish` does.
    """
    if not actions:
        raise TypeError("publish() needs something to publish")
    message = actions[0]
    for more in actions[1:]:
        message = message + more
    return broadcast.publish(_name(stream), message)


class Broadcaster:
    """What :func:`broadcasts_to` connected: the receivers of one model's signals."""

    def __init__(
        self,
        model: type[Model],
        stream: Callable[[Any], Any],
        *,
        template: str,
        format: str = "turbo",
        target: str | None = None,
        insert: str = "append",
        per_user: bool = False,
    ) -> None:
        if format not in _FORMATS:
            raise ValueError(f"format is 'turbo' or 'htmx', not {format!r}")
        if insert not in ("append", "prepend"):
            raise ValueError(f"insert is 'append' or 'prepend', not {insert!r}")
        self.model = model
        self.stream = stream
        self.template = template
        self.helpers = _FORMATS[format]
        opts = model._meta
        #: The id of the element new instances are added to: ``"comments"`` by default.
        self.target = target or slugify(str(opts.verbose_name_plural))
        self.insert = insert
        self.per_user = per_user
        # Connected once however often the module that calls broadcasts_to() is
        # imported; two broadcasters differ by where their stream function is.
        code = getattr(stream, "__code__", None)
        where = f"{getattr(stream, '__module__', '')}.{getattr(stream, '__qualname__', stream)}"
        line = code.co_firstlineno if code is not None else 0
        self.uid = f"djws.live:{opts.label_lower}:{template}:{format}:{where}:{line}"

    def connect(self) -> Broadcaster:
        """Connect the receivers (again, once only, however often it is called)."""
        post_save.connect(self.saved, sender=self.model, weak=False, dispatch_uid=self.uid)
        post_delete.connect(self.deleted, sender=self.model, weak=False, dispatch_uid=self.uid)
        return self

    def disconnect(self) -> None:
        """Stop publishing for this model."""
        post_save.disconnect(sender=self.model, dispatch_uid=self.uid)
        post_delete.disconnect(sender=self.model, dispatch_uid=self.uid)

    def content(self, instance: Model) -> Any:
        """``template`` with ``{"object": instance, "<model_name>": instance}``."""
        context: dict[str, Any] = {"object": instance, str(instance._meta.model_name): instance}
        if self.per_user:
            return per_user_content(self.template, context)
        return {"template": self.template, "context": context}

    def _action(self, helper: str, target: str, instance: Model) -> Any:
        found = self.content(instance)
        function = getattr(self.helpers, helper)
        if isinstance(found, dict):
            return function(target, **found)
        return function(target, found)

    def saved(self, sender: type[Model], instance: Model, created: bool, **kwargs: Any) -> None:
        """Publish the instance's insertion or replacement once the transaction commits.

        Not for rows loaded from fixtures (``loaddata``: ``raw``): no page shows them yet.
        """
        if kwargs.get("raw"):
            return
        name = _name(self.stream(instance))
        using = kwargs.get("using")

        def send() -> None:
            if created:
                message = self._action(self.insert, self.target, instance)
            else:
                message = self._action("replace", dom_id(instance), instance)
            broadcast.publish(name, message)

        transaction.on_commit(send, using=using)

    def deleted(self, sender: type[Model], instance: Model, **kwargs: Any) -> None:
        """Publish the removal of the instance's element once the transaction commits."""
        if kwargs.get("raw"):
            return
        name = _name(self.stream(instance))
        message = self.helpers.remove(dom_id(instance))  # the pk is gone after the delete
        transaction.on_commit(lambda: broadcast.publish(name, message), using=kwargs.get("using"))


def broadcasts_to(
    model: type[Model],
    stream: Callable[[Any], Any],
    *,
    template: str,
    format: str = "turbo",
    target: str | None = None,
    insert: str = "append",
    per_user: bool = False,
) -> Broadcaster:
    """Publish ``model``'s creations, changes and deletions to the stream of each instance.

    ``stream(instance)`` gives the stream (a model instance, a name, a tuple of
    parts); ``template`` renders one instance (as ``object`` and by its model
    name); ``format`` is ``"turbo"`` or ``"htmx"``; ``target`` the id of the
    element new instances are added to (default: the model's plural name,
    ``"comments"``), at its end or, with ``insert="prepend"``, its start.
    With ``per_user``, each worker renders the template for each member's user.
    Return the :class:`Broadcaster`; its ``disconnect()`` stops it.
    """
    broadcaster = Broadcaster(
        model,
        stream,
        template=template,
        format=format,
        target=target,
        insert=insert,
        per_user=per_user,
    )
    return broadcaster.connect()
