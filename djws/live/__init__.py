"""Live pages the Django way: templates over djws's broadcast, for htmx and Turbo.

::

    {% load djws_live %}
    {% turbo_stream_from post %}               {# a Turbo page listens to post 42 #}
    <div hx-ext="ws" ws-connect="{% live_stream_url post %}">  {# an htmx page #}

    # anywhere: a view, a signal receiver, a Celery task
    live.publish(post, turbo.append("comments", template="blog/comment.html",
                                    context={"comment": comment}))
    live.broadcasts_to(Comment, lambda comment: comment.post, template="blog/comment.html")

* :mod:`.streams`: stream names, signed by the server so that a page can listen
  to one through djws's endpoint (:mod:`.views`, :mod:`.urls`) with no view to write;
  who may listen beyond that, per name pattern (``WEBSOCKET_STREAM_CHECKS``);
* :mod:`.turbo` and :mod:`.htmx`: the actions and swaps pages apply, rendered from
  templates or strings; what htmx's ``ws-send`` sent, as a form binds it;
* :mod:`.rendering`: :func:`per_user`, fragments each worker renders for each
  member's user;
* :mod:`.publishing`: :func:`publish` and :func:`broadcasts_to`.

The pages resume after a reconnection, as djws.js does, with
``djws/djws-htmx.js`` (htmx 2 and 4) and ``djws/djws-turbo.js``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Each name is imported from its module when first used: djws's app config
# imports .rendering in every process, and that need not load the rest.
_EXPORTS = {
    "Broadcaster": "djws.live.publishing",
    "broadcasts_to": "djws.live.publishing",
    "publish": "djws.live.publishing",
    "PerUser": "djws.live.rendering",
    "per_user": "djws.live.rendering",
    "dom_id": "djws.live.streams",
    "sign": "djws.live.streams",
    "stream_name": "djws.live.streams",
    "stream_url": "djws.live.streams",
    "unsign": "djws.live.streams",
}

__all__ = [
    "Broadcaster",
    "PerUser",
    "broadcasts_to",
    "dom_id",
    "per_user",
    "publish",
    "sign",
    "stream_name",
    "stream_url",
    "unsign",
]

if TYPE_CHECKING:
    from .publishing import Broadcaster, broadcasts_to, publish
    from .rendering import PerUser, per_user
    from .streams import dom_id, sign, stream_name, stream_url, unsign


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'djws.live' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
