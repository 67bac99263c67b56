"""The test project's app: reports Django's request signals in the server log."""

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
        request_started.connect(_started)
        request_finished.connect(_finished)
