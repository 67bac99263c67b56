"""WebSocket views of the sample site (WEBSOCKET_URLCONF): djws's built-in servers.

With ``djws.contrib.chat`` in ``INSTALLED_APPS``, ``djws.builtin.urls`` has the
chat too, beside echo and ping.
"""

from django.urls import include, path

urlpatterns = [
    path("ws/", include("djws.builtin.urls")),
]
