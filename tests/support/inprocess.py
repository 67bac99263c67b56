"""The test project's views, served in the pytest process by ``djws.test.WebSocketClient``.

A test of what a view does -- its messages, close codes, refusals, what it
logs -- needs no server process: djws's own test client runs the real
handshake handler, the project's middleware and ``WEBSOCKET_URLCONF`` and the
view in this process (``docs/howto/testing.rst``). That is how the fast tier
tests views.

Django is configured once per process. :func:`configure` configures it with the
settings the servers run (``testproject.settings``); ``tests/conftest.py`` and
``tests/toolkit/conftest.py`` call it before any test module is imported.
``DJANGO_SETTINGS_MODULE`` is deliberately *not* left in the environment: the
servers other tests start inherit it, and a project whose ``manage.py`` uses
``setdefault`` (the sample site) would load the wrong settings.
"""

from __future__ import annotations

import os
import sys

from .servers import PROJECT

__all__ = ["SETTINGS_MODULE", "configure"]

#: The settings of the test project, in-process as in its servers.
SETTINGS_MODULE = "testproject.settings"


def configure() -> None:
    """Configure Django in this process with the test project's settings (once)."""
    import django
    from django.conf import settings

    if settings.configured:
        if settings.SETTINGS_MODULE != SETTINGS_MODULE:
            raise RuntimeError(
                f"the tests need Django configured with {SETTINGS_MODULE}, but "
                f"{settings.SETTINGS_MODULE or 'settings.configure()'} was configured first."
            )
        return
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    previous = os.environ.get("DJANGO_SETTINGS_MODULE")
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    try:
        django.setup()
    finally:
        if previous is None:
            del os.environ["DJANGO_SETTINGS_MODULE"]
        else:
            os.environ["DJANGO_SETTINGS_MODULE"] = previous
