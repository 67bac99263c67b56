"""axe-core, the accessibility engine, injected into pages and run in Chromium.

axe-core comes from npm, at the version ``tests/npm/package-lock.json`` pins
(with its sha512), installed by ``npm ci`` into ``tests/npm/node_modules`` the
first time a test needs it: nothing third-party is copied into the repository,
and every machine audits with the same bytes.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["NPM_DIR", "audit", "axe_source", "format_violations"]

#: The npm project that pins axe-core.
NPM_DIR = Path(__file__).resolve().parent.parent / "npm"
_PACKAGE = NPM_DIR / "node_modules" / "axe-core"


def _wanted_version() -> str:
    lock = json.loads((NPM_DIR / "package-lock.json").read_text())
    return str(lock["packages"]["node_modules/axe-core"]["version"])


def _installed_version() -> str | None:
    try:
        return str(json.loads((_PACKAGE / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


@functools.cache
def axe_source() -> str:
    """Return the text of ``axe.min.js``, installing the pinned axe-core first if needed."""
    if _installed_version() != _wanted_version():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "The accessibility tests install axe-core with npm, which is missing: "
                "apt-get install npm (./runtests.sh does it when run as root)."
            )
        command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", NPM_DIR]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        assert _installed_version() == _wanted_version()
    return (_PACKAGE / "axe.min.js").read_text()


def audit(page: Any, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run axe-core's default rules on ``page``; return its violations, short."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    result = page.evaluate(
        "(options) => axe.run(document, options)",
        {"resultTypes": ["violations"], **(options or {})},
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [
                {"target": node["target"], "summary": node["failureSummary"]}
                for node in violation["nodes"]
            ],
        }
        for violation in result["violations"]
    ]


def format_violations(violations: list[dict[str, Any]]) -> str:
    """The violations as lines a person reads in a failed assertion."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join(str(node["summary"]).split())
            lines.append(f"  {node['target']}: {summary}")
    return "\n".join(lines)
