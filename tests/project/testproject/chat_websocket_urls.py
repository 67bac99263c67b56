"""A WEBSOCKET_URLCONF with the chat alone under ws/ (djws.contrib.chat.urls)."""

from django.urls import include, path

urlpatterns = [path("ws/", include("djws.contrib.chat.urls"))]
