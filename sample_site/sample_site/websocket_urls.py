"""WebSocket views of the sample site (WEBSOCKET_URLCONF): djws's built-in servers.

With ``djws.contrib.chat`` in ``INSTALLED_APPS``, ``djws.builtin.urls`` has the
chat too, beside echo and ping. ``djws.live.urls`` serves the signed streams
the Turbo page listens to; the htmx page's WebSocket is a view of the playground.
"""

from django.urls import include, path
from playground import live

urlpatterns = [
    path("ws/", include("djws.builtin.urls")),
    path("ws/comments/", live.comments_socket, name="comments"),
    path("live/", include("djws.live.urls")),
]
