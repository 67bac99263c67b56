"""Django, configured in this process, for the tests of ``djws.test``.

These tests run views in-process, as a project's own test suite does, so they
need Django configured in the pytest process with the test project's settings,
and pytest-django (which creates the test database and runs ``TestCase``
classes). Other test modules configure Django in-process their own way, and a
process can be configured only once. So these tests run in a pytest process of
their own: ``pytest tests/toolkit`` runs them here directly, and in a run of the
whole suite ``tests/test_toolkit.py`` starts that process and this directory is
not collected a second time.

``DJANGO_SETTINGS_MODULE`` is deliberately *not* left in the environment: the
servers other tests start inherit it, and a project whose ``manage.py`` uses
``setdefault`` (the sample site) would load the wrong settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django
import pytest
from django.conf import settings

from ..support import PROJECT

SETTINGS_MODULE = "testproject.settings"


HERE = Path(__file__).resolve().parent


def _runs_only_here(config: pytest.Config) -> bool:
    """Tell whether every path this pytest session was started on is in this directory."""
    paths = [Path(arg.split("::", 1)[0]).resolve() for arg in config.args]
    return bool(paths) and all(path == HERE or HERE in path.parents for path in paths)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name.startswith("test_") and not _runs_only_here(config):
        return True  # tests/test_toolkit.py runs them in a process of their own
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the real PostgreSQL server")
    config.addinivalue_line("markers", "redis: needs the real Redis server")
    if not _runs_only_here(config):
        return
    if settings.configured:
        if settings.SETTINGS_MODULE != SETTINGS_MODULE:
            raise pytest.UsageError(
                f"tests/toolkit needs Django configured with {SETTINGS_MODULE}, but "
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
