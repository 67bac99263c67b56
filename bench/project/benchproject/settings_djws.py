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
# One load client, one address, one logged-in user for thousands of connections, and
# the flood scenario measures fairness with no limit configured: the limits are off.
WEBSOCKET_LIMITS = {
    "messages_per_second": None,
    "bytes_per_second": None,
    "connections_per_user": None,
    "groups_per_connection": None,
}
# The render scenario's fragment (templates/bench/item.html), rendered with each
# member's request (user, perms) or once without one.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth"]},
    }
]
if os.environ.get("BENCH_BROADCAST_URL"):
    WEBSOCKET_BROADCAST_URL = os.environ["BENCH_BROADCAST_URL"]
    WEBSOCKET_BROADCAST_PREFIX = os.environ.get("BENCH_BROADCAST_PREFIX", "djws-bench")
