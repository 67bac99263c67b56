"""djws.test works whatever WEBSOCKET_BROADCAST_URL says: the tutorial's tests, unchanged,
under Redis and under PostgreSQL, in bounded time (they once hung forever: the test
process is not patched by gevent, and a backend's listener blocked it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MYSITE = Path(__file__).resolve().parents[2] / "docs" / "tutorial" / "mysite"


@pytest.mark.parametrize(
    ("url", "database"),
    [
        pytest.param("redis://127.0.0.1:6379/0", None, marks=pytest.mark.redis, id="redis"),
        pytest.param("database://default", "postgresql", marks=pytest.mark.postgres, id="database"),
    ],
)
def test_the_tutorials_tests_pass_with_a_real_backend(
    tmp_path: Path, url: str, database: str | None
) -> None:
    settings = [
        "from mysite.settings import *  # noqa: F403",
        f"WEBSOCKET_BROADCAST_URL = {url!r}",
    ]
    if database:
        settings.append(
            "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', "
            f"'NAME': 'djws_tutorial_{os.getpid()}', 'HOST': '127.0.0.1', 'USER': 'postgres'}}}}"
        )
    (tmp_path / "backend_settings.py").write_text("\n".join(settings) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "chat", "--noinput", "--settings=backend_settings"],
        cwd=MYSITE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Ran 4 tests" in result.stderr
    assert "\nOK\n" in result.stderr
