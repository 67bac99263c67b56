"""Django, configured in this process, for the tests of ``djws.test``.

These tests run views in-process, as a project's own test suite does, so they
need Django configured in the pytest process with the test project's settings,
and pytest-django (which creates the test database and runs ``TestCase``
classes), configured by :func:`tests.support.inprocess.configure` as in the
main suite. They run in a pytest process of their own, as a project's own suite
does: ``pytest tests/toolkit`` runs them here directly, and in a run of the
whole suite ``tests/test_toolkit.py`` starts that process and this directory is
not collected a second time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.inprocess import configure

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
    try:
        configure()
    except RuntimeError as exc:
        raise pytest.UsageError(f"tests/toolkit: {exc}") from None
