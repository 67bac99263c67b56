"""URL patterns of the built-in servers, to ``include()`` in a ``WEBSOCKET_URLCONF``.

::

    urlpatterns = [path("ws/", include("djws.servers.urls"))]

gives ``ws/echo/``, ``ws/ping/``, ``ws/chat/`` (the ``lobby`` room) and
``ws/chat/<room>/``, named ``djws:echo``, ``djws:ping`` and ``djws:chat``.
"""

from django.urls import path, re_path

from .chat import DEFAULT_ROOM, ROOM_RE, chat
from .echo import echo
from .ping import ping

__all__ = ["app_name", "urlpatterns"]

app_name = "djws"

urlpatterns = [
    path("echo/", echo, name="echo"),
    path("ping/", ping, name="ping"),
    path("chat/", chat, {"room": DEFAULT_ROOM}, name="chat"),
    re_path(rf"^chat/(?P<room>{ROOM_RE})/$", chat, name="chat"),
]
