"""The reference documentation lists every setting, check and command option.

Settings, checks and options are added in code; these tests fail until the
reference (``docs/reference``) says what each one is and, for settings, its
default as ``djws.conf.DEFAULTS`` (or ``djws.contrib.chat.conf.DEFAULTS``) has it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from djws.conf import DEFAULTS as CORE_DEFAULTS
from djws.contrib.chat.conf import DEFAULTS as CHAT_DEFAULTS
from djws.management.commands.runwebsocket import Command

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
DEFAULTS = {**CORE_DEFAULTS, **CHAT_DEFAULTS}


def section(text: str, heading: str) -> str:
    """The text under a ``heading`` of the settings page, up to the next heading."""
    match = re.search(rf"^``{heading}``\n~+\n(.*?)(?=^``\w+``\n~+\n|\Z)", text, re.M | re.S)
    assert match, f"docs/reference/settings.rst has no section for {heading}"
    return match.group(1)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    body = section((REFERENCE / "settings.rst").read_text(), name)
    assert f"Default: ``{DEFAULTS[name]!r}``" in body


def test_every_check_id_is_documented() -> None:
    source = "".join(p.read_text() for p in (ROOT / "djws").rglob("*.py"))
    ids = set(re.findall(r'id="(djws\.[EW]\d{3})"', source))
    checks = (REFERENCE / "checks.rst").read_text()
    documented = set(re.findall(r"^``(djws\.[EW]\d{3})``$", checks, re.M))
    assert ids, "no check ids found in djws"
    assert sorted(ids - documented) == []
    assert sorted(documented - ids) == []


def test_every_runwebsocket_option_is_documented() -> None:
    text = (REFERENCE / "runwebsocket.rst").read_text()
    parser = Command().create_parser("manage.py", "runwebsocket")
    options = [
        s
        for a in parser._actions
        if a.help != argparse.SUPPRESS
        for s in a.option_strings
        if s.startswith("--")
    ]
    assert "--http" in options
    missing = [option for option in options if f"``{option}" not in text and option != "--help"]
    assert missing == []
