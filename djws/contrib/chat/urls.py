"""URL patterns of the chat server, to ``include()`` in a ``WEBSOCKET_URLCONF``.

:mod:`djws.builtin.urls` lists them with echo and ping, named ``djws:chat``. For
the chat alone::

    urlpatterns = [path("ws/", include("djws.contrib.chat.urls"))]

gives ``ws/chat/`` (the ``lobby`` room) and ``ws/chat/<room>/``, named
``djws_chat:chat``::

    {% websocket_url 'djws_chat:chat' 'kitchen' %}
"""

from django.urls import path, re_path

from .views import DEFAULT_ROOM, ROOM_RE, chat

__all__ = ["app_name", "urlpatterns"]

app_name = "djws_chat"

urlpatterns = [
    path("chat/", chat, {"room": DEFAULT_ROOM}, name="chat"),
    re_path(rf"^chat/(?P<room>{ROOM_RE})/$", chat, name="chat"),
]
