"""djws's WebSocket urlconf (``WEBSOCKET_URLCONF``): the same paths as the others."""

from django.urls import path

from . import views

urlpatterns = [
    path("echo", views.echo),
    path("whoami", views.whoami),
    path("sub", views.subscribe),
    path("control", views.control),
    path("storm/<str:group>", views.storm),
    path("reload/<str:group>", views.reload),
    path("render/sub", views.render_subscribe),
    path("render/control", views.render_control),
]
