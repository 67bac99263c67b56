"""Template tags of live pages: listen to a signed stream, name an instance's element.

::

    {% load static djws_live %}
    <script src="{% static 'djws/djws.js' %}"></script>
    <script src="{% static 'djws/djws-turbo.js' %}"></script>
    {% turbo_stream_from post %}
    <div id="comments">{% for comment in comments %}
      <article id="{{ comment|dom_id }}">...</article>{% endfor %}</div>

``{% turbo_stream_from part ... %}`` renders a ``<djws-stream-source>``
element (defined by ``djws-turbo.js``) that connects Turbo to the stream
``stream_name(part, ...)``, signed, over a WebSocket that reconnects and
resumes; with ``transport="sse"``, over Server-Sent Events. ``{% live_stream_url
part ... %}`` is the URL alone, for htmx's ``ws-connect`` or ``hx-ws:connect``
(``as var`` stores it). Both need the endpoint in ``WEBSOCKET_URLCONF``
(``path("live/", include("djws.live.urls"))``) and the request in the
context (``django.template.context_processors.request``), whose host they
follow as ``{% websocket_url %}`` does.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Model
from django.template.context import Context
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..live.streams import dom_id as instance_dom_id
from ..live.streams import stream_url

__all__ = ["dom_id", "live_stream_url", "register", "turbo_stream_from"]

register = template.Library()


def _request(context: Context) -> Any:
    return getattr(context, "request", None) or context.get("request")


@register.simple_tag(takes_context=True)
def live_stream_url(context: Context, *parts: Any, transport: str = "websocket") -> str:
    """The URL of the signed stream ``stream_name(*parts)`` (``transport="sse"``: http)."""
    return stream_url(*parts, request=_request(context), transport=transport)


@register.simple_tag(takes_context=True)
def turbo_stream_from(context: Context, *parts: Any, transport: str = "websocket") -> SafeString:
    """A ``<djws-stream-source>`` that feeds Turbo the stream ``stream_name(*parts)``."""
    url = stream_url(*parts, request=_request(context), transport=transport)
    return format_html('<djws-stream-source src="{}"></djws-stream-source>', url)


@register.filter
def dom_id(instance: Model, prefix: str = "") -> str:
    """``{{ comment|dom_id }}`` gives ``"comment-7"``, ``{{ comment|dom_id:"edit" }}``
    ``"edit-comment-7"``."""
    return instance_dom_id(instance, prefix)
