"""``docs/screenshots.py`` still takes every screenshot the documentation shows."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parent.parent / "docs"
SIZES = {"chat.png": (900, 640), "chat-error.png": (900, 640)}
PHONE = (375, 667)


def png_size(path: Path) -> tuple[int, int]:
    """The width and height in a PNG file's header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_screenshot_script_takes_every_screenshot_the_docs_show(tmp_path):
    result = subprocess.run(
        [sys.executable, str(DOCS / "screenshots.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    taken = sorted(path.name for path in tmp_path.iterdir())
    shown = sorted(path.name for path in (DOCS / "_static").glob("*.png"))
    assert taken == shown
    for name in taken:
        assert png_size(tmp_path / name) == SIZES.get(name, PHONE), name
