"""The toolkit's database promises, on PostgreSQL.

SQLite's in-memory test database ignores ``close()``, so a toolkit that let
Django close the test's connection at the start or end of a WebSocket request
would pass on SQLite and lose the test's transaction on PostgreSQL. This runs
the TestCase and pytest-django suites again against the real server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@pytest.mark.postgres
def test_testcase_and_pytest_suites_pass_on_postgresql() -> None:
    env = {
        **os.environ,
        "DJWS_TEST_DATABASE": "psycopg",
        # Django creates and drops test_djws_toolkit_<pid> next to it: a name of
        # this run's own, so two checkouts can run their suites at once.
        "DJWS_TEST_PG_NAME": f"djws_toolkit_{os.getpid()}",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # Only this directory's conftest: the suite's own one migrates a
            # server database that does not exist here.
            "--confcutdir",
            str(HERE),
            str(HERE / "test_toolkit_testcase.py"),
            str(HERE / "test_toolkit_pytest.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.fullmatch(r"\d+ passed in [\d.]+s", summary), summary
