"""Settings for the djws server (``manage.py runwebsocket``).

``BENCH_BROADCAST_URL`` and ``BENCH_BROADCAST_PREFIX`` set the broadcast backend
(default: djws's ``local://``); the storm scenario runs two workers on Redis.
"""

import os

from .settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "djws"]  # noqa: F405
WEBSOCKET_URLCONF = "benchproject.websocket_urls"
# Same origin rules for every server: the load client sends Origin: http://127.0.0.1:PORT.
WEBSOCKET_ALLOWED_ORIGINS = None
if os.environ.get("BENCH_BROADCAST_URL"):
    WEBSOCKET_BROADCAST_URL = os.environ["BENCH_BROADCAST_URL"]
    WEBSOCKET_BROADCAST_PREFIX = os.environ.get("BENCH_BROADCAST_PREFIX", "djws-bench")
