"""djws.js, its reference page and its TypeScript declarations say the same things.

Every option in ``DEFAULTS``, every event djws.js fires and every name it exports
is in ``docs/reference/javascript.rst`` and in ``djws.d.ts``; and the package
ships ``djws.d.ts`` beside ``djws.js``.
"""

from __future__ import annotations

import configparser
import fnmatch
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "djws" / "static" / "djws"
SOURCE = (STATIC / "djws.js").read_text()
TYPES = (STATIC / "djws.d.ts").read_text()
REFERENCE = (ROOT / "docs" / "reference" / "javascript.rst").read_text()


def defaults() -> list[str]:
    block = SOURCE[
        SOURCE.index("var DEFAULTS = {") : SOURCE.index("\n  };", SOURCE.index("var DEFAULTS"))
    ]
    return re.findall(r"^    (\w+):", block, re.MULTILINE)


def events() -> set[str]:
    fired = set(re.findall(r'(?:makeEvent|new (?:Message|Custom)Event)\("(\w+)"', SOURCE))
    if "this._error(" in SOURCE:
        fired.add("error")
    return fired


def exports() -> list[str]:
    block = SOURCE[SOURCE.rindex("return {") :]
    return re.findall(r"^    (\w+): \w+,", block, re.MULTILINE)


def test_the_lists_are_found():
    assert "maxMessageSize" in defaults()
    assert {"open", "close", "json", "queued", "sent", "dropped", "error"} <= events()
    assert "Socket" in exports()


@pytest.mark.parametrize("option", defaults())
def test_every_option_is_documented_and_typed(option):
    assert f"``{option}``" in REFERENCE or f"``{option}(" in REFERENCE
    assert re.search(rf"^    {option}\?: ", TYPES, re.MULTILINE), option


@pytest.mark.parametrize("event", sorted(events()))
def test_every_event_is_documented_and_typed(event):
    section = REFERENCE[REFERENCE.index("\nEvents\n") :]
    assert f"\n``{event}``\n" in section, event
    event_map = TYPES[TYPES.index("interface SocketEventMap") :]
    assert re.search(rf"^    {event}: \w+", event_map, re.MULTILINE), event


@pytest.mark.parametrize("name", exports())
def test_every_export_is_documented_and_typed(name):
    assert f"``djws.{name}" in REFERENCE, name
    assert re.search(rf"^  (?:const|class|function) {name}\b", TYPES, re.MULTILINE), name


def test_the_declarations_are_package_data():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["djws"].split(",")]
    for shipped in ("static/djws/djws.js", "static/djws/djws.d.ts"):
        assert any(fnmatch.fnmatch(shipped, pattern) for pattern in patterns), shipped
