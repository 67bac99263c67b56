"""WebSocket views of the sample site (WEBSOCKET_URLCONF): djws's built-in servers."""

from django.urls import include, path

urlpatterns = [
    path("ws/", include("djws.servers.urls")),
]
