"""URL patterns of the built-in servers, to ``include()`` in a ``WEBSOCKET_URLCONF``.

::

    urlpatterns = [path("ws/", include("djws.builtin.urls"))]

gives ``ws/echo/`` and ``ws/ping/``, named ``djws:echo`` and ``djws:ping``. With
``"djws.contrib.chat"`` in ``INSTALLED_APPS`` it also gives the chat:
``ws/chat/`` (the ``lobby`` room) and ``ws/chat/<room>/``, named ``djws:chat``.
Without that app those paths are not found (404) and ``djws:chat`` does not
reverse.
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.urls import URLPattern, URLResolver, path

from .echo import echo
from .ping import ping

__all__ = ["app_name", "urlpatterns"]

app_name = "djws"

urlpatterns: list[URLPattern | URLResolver] = [
    path("echo/", echo, name="echo"),
    path("ping/", ping, name="ping"),
]

if apps.is_installed("djws.contrib.chat"):
    # Only then, by name: the chat's model cannot even be imported without its app.
    urlpatterns += import_module("djws.contrib.chat.urls").urlpatterns
