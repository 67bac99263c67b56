"""The test project's app: reports Django's request signals in the server log.

``DJWS_TEST_BROADCAST_KEEPALIVE`` shortens how long the Redis and PostgreSQL
listeners wait in silence before checking their connection (10 s in djws, a
class attribute rather than a setting): the multi-host tests cut a host off
from Redis for a few seconds and want the cut noticed within them.
``DJWS_TEST_SLOW_PRESENCE`` delays the rewrite of a worker's presence entries
that follows every (re)connection of its listener by that many seconds.
"""

import os
import time

from django.apps import AppConfig
from django.core.signals import request_finished, request_started


def _started(sender, environ, **kwargs):
    print(f"signal request_started {environ['PATH_INFO']}", flush=True)


def _finished(sender, **kwargs):
    print("signal request_finished", flush=True)


class TestProjectConfig(AppConfig):
    name = "testproject"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        time.sleep(float(os.environ.get("DJWS_TEST_SLOW_START", "0")))
        request_started.connect(_started)
        request_finished.connect(_finished)
        from djws import live

        from .models import Message

        # Every Message saved or deleted is published to its stream (testproject.live).
        live.broadcasts_to(
            Message, lambda message: message.stream, template="live/message.html", target="messages"
        )
        if "DJWS_TEST_BROADCAST_KEEPALIVE" in os.environ:
            from djws.broadcast.backends.listening import ListeningBackend

            ListeningBackend.keepalive = float(os.environ["DJWS_TEST_BROADCAST_KEEPALIVE"])
        if "DJWS_TEST_SLOW_PRESENCE" in os.environ:
            from djws.broadcast.backends.listening import ListeningBackend

            delay = float(os.environ["DJWS_TEST_SLOW_PRESENCE"])
            restore = ListeningBackend._restore_presence

            def slow_restore(self):
                time.sleep(delay)  # gevent's sleep in a worker
                restore(self)

            ListeningBackend._restore_presence = slow_restore
