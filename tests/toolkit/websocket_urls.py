"""A WEBSOCKET_URLCONF with djws's built-in servers under ws/, for the toolkit tests."""

from django.urls import include, path

urlpatterns = [path("ws/", include("djws.builtin.urls"))]
