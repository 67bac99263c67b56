"""axe-core, the accessibility engine, injected into pages and run in Chromium.

axe-core comes from npm, at the version ``tests/npm/package-lock.json`` pins
(with its sha512), installed by ``npm ci`` into ``tests/npm/node_modules`` the
first time a test needs it: nothing third-party is copied into the repository,
and every machine audits with the same bytes.
"""

from __future__ import annotations

import functools
from typing import Any

from .npmci import NPM_DIR, ensure_installed

__all__ = ["NPM_DIR", "audit", "axe_source", "format_violations"]

_PACKAGE = NPM_DIR / "node_modules" / "axe-core"


@functools.cache
def axe_source() -> str:
    """Return the text of ``axe.min.js``, installing the pinned axe-core first if needed."""
    ensure_installed(NPM_DIR)
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
