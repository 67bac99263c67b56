"""Settings for the djws server (``manage.py runwebsocket``)."""

from .settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "djws"]  # noqa: F405
WEBSOCKET_URLCONF = "benchproject.websocket_urls"
# Same origin rules for every server: the load client sends Origin: http://127.0.0.1:PORT.
WEBSOCKET_ALLOWED_ORIGINS = None
