"""npm packages the tests use, installed with ``npm ci`` from their lock files, once.

``tests/npm`` pins what the browser tests inject or serve (axe-core, htmx 2 and
4, Turbo); ``sample_site`` pins the sample site's htmx and Turbo, which its
``run.sh`` installs too. :func:`ensure_installed` runs ``npm ci`` in such a
directory when a package the lock file pins is missing or at another version:
nothing third-party is copied into the repository, and every machine tests with
the same bytes.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

__all__ = ["NPM_DIR", "ensure_installed"]

#: The npm project of the tests.
NPM_DIR = Path(__file__).resolve().parent.parent / "npm"


def _stale(directory: Path) -> list[str]:
    """The packages of ``directory``'s lock file not installed at their version."""
    lock = json.loads((directory / "package-lock.json").read_text())
    stale = []
    for where, package in lock["packages"].items():
        if not where:
            continue
        try:
            installed = json.loads((directory / where / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            installed = None
        if installed != package["version"]:
            stale.append(where)
    return stale


@functools.cache
def ensure_installed(directory: Path = NPM_DIR) -> Path:
    """Install ``directory``'s locked npm packages if needed; return its node_modules."""
    if _stale(directory):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "The browser tests install npm packages with npm, which is missing: "
                "apt-get install npm (./runtests.sh does it when run as root)."
            )
        command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", directory]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        assert _stale(directory) == [], _stale(directory)
    return directory / "node_modules"
