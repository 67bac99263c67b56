"""ASGI entry point for Channels: every WebSocket route behind AuthMiddlewareStack."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings_channels")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from . import consumers  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    path("echo", consumers.EchoConsumer.as_asgi()),
                    path("echo-sync", consumers.SyncEchoConsumer.as_asgi()),
                    path("whoami", consumers.WhoamiConsumer.as_asgi()),
                    path("sub", consumers.SubscribeConsumer.as_asgi()),
                    path("control", consumers.ControlConsumer.as_asgi()),
                ]
            )
        ),
    }
)
