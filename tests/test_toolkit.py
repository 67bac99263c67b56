"""djws.test's own suite (tests/toolkit), run in a pytest process of its own.

Those tests configure Django in the pytest process with the test project's
settings, as a project's suite does; other modules of this suite configure
Django in-process differently, and a process can be configured only once. So a
run of the whole suite starts ``pytest tests/toolkit`` as a child and requires
every one of its tests to pass (none failed, skipped or errored).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLKIT = ROOT / "tests" / "toolkit"


def test_toolkit_suite_passes_in_its_own_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # This directory's conftest only: tests/conftest.py migrates a server
            # database, which the in-process tests do not use.
            "--confcutdir",
            str(TOOLKIT),
            str(TOOLKIT),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    match = re.fullmatch(r"(\d+) passed(?:, \d+ warnings?)? in [\d.]+s(?: \(.*\))?", summary)
    assert match, result.stdout[-8000:]
    assert int(match.group(1)) >= 80, summary
