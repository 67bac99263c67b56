"""``{% websocket_url %}``: the absolute WebSocket URL of a view, in a template.

``{% event_stream_url %}`` is the same for an ``@event_stream`` view: the same
host and port, with ``http`` / ``https`` for ``EventSource``.

::

    {% load websockets %}
    <script>
      const ws = new WebSocket("{% websocket_url 'chat' room.slug %}");
    </script>

It takes the same arguments as ``{% url %}`` -- a view name from
``WEBSOCKET_URLCONF``, then positional or ``key=value`` arguments, optionally
``as var`` -- and fails the same way: an unknown name raises ``NoReverseMatch``,
except with ``as var``, which then gets ``""``. The scheme, host and port follow
the page's request; :mod:`djws.reverse` explains the rules. The request comes from
the template context (``django.template.context_processors.request``, or
``render(request, ...)``); without one, the URL points at ``127.0.0.1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import template
from django.template.defaulttags import URLNode, url
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape

from ..reverse import event_stream_url as build_event_stream_url
from ..reverse import websocket_url as build_websocket_url

if TYPE_CHECKING:
    from django.template.base import Parser, Token
    from django.template.context import Context

__all__ = [
    "EventStreamURLNode",
    "WebSocketURLNode",
    "event_stream_url",
    "register",
    "websocket_url",
]

register = template.Library()


class WebSocketURLNode(URLNode):
    """``{% url %}``'s node, reversing in ``WEBSOCKET_URLCONF`` into an absolute URL."""

    build = staticmethod(build_websocket_url)

    def render(self, context: Context) -> str:
        """Return the URL, or store it in ``as`` variable and return ``""``."""
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {key: value.resolve(context) for key, value in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        request = getattr(context, "request", None) or context.get("request")
        # The page's own namespace belongs to ROOT_URLCONF; only an explicit
        # request.current_app is meaningful for the WebSocket urlconf.
        current_app = getattr(request, "current_app", None)
        result = ""
        try:
            result = self.build(
                view_name, args=args, kwargs=kwargs, request=request, current_app=current_app
            )
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = result
            return ""
        return conditional_escape(result) if context.autoescape else result


@register.tag
def websocket_url(parser: Parser, token: Token) -> WebSocketURLNode:
    """Parse ``{% websocket_url 'name' arg key=value as var %}`` exactly like ``{% url %}``."""
    node = url(parser, token)
    return WebSocketURLNode(node.view_name, node.args, node.kwargs, node.asvar)


class EventStreamURLNode(WebSocketURLNode):
    """The node of ``{% event_stream_url %}``: ``http(s)://`` for ``EventSource``."""

    build = staticmethod(build_event_stream_url)


@register.tag
def event_stream_url(parser: Parser, token: Token) -> EventStreamURLNode:
    """Parse ``{% event_stream_url 'name' arg key=value as var %}`` exactly like ``{% url %}``."""
    node = url(parser, token)
    return EventStreamURLNode(node.view_name, node.args, node.kwargs, node.asvar)
