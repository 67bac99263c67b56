"""The tutorial's project is real: its own test suite, written with djws.test, passes.

``docs/tutorial/mysite`` is the project the tutorial builds, file by file; the
tutorial shows those files with ``literalinclude``, so what a reader copies is
what runs here, through Django's own test runner (``manage.py test``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MYSITE = Path(__file__).resolve().parents[2] / "docs" / "tutorial" / "mysite"


def test_the_tutorial_project_passes_its_tests() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "chat", "--noinput"],
        cwd=MYSITE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Ran 4 tests" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2:] == [
        "OK",
        "Destroying test database for alias 'default'...",
    ]
