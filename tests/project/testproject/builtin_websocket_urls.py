"""A WEBSOCKET_URLCONF with djws's built-in servers under ws/, as a project includes them."""

from django.urls import include, path

urlpatterns = [path("ws/", include("djws.builtin.urls"))]
