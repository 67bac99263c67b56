"""Settings for Django Channels (served by Daphne or uvicorn).

The channel layer is the in-memory one: a single process, like the other servers.
"""

from .settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "channels"]  # noqa: F405
ASGI_APPLICATION = "benchproject.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
