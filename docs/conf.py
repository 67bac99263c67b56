"""Sphinx configuration of djws's documentation.

Built warning-free by ``.ci/docs.sh``. autodoc imports djws, so Django is
configured here with the smallest settings that let every documented module
import (the chat's models need their app, ``djws.contrib.chat``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import django
from django.conf import settings

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "djws",
            "djws.contrib.chat",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        WEBSOCKET_URLCONF="djws.builtin.urls",
        USE_TZ=True,
    )
    django.setup()

import djws  # noqa: E402 - after Django is configured

project = "djws"
author = "the djws authors"
copyright = "the djws authors"  # noqa: A001 - Sphinx's name
release = djws.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
templates_path: list[str] = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = f"djws {release}"
html_static_path = ["_static"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# The type hints name Django and websockets classes that are not documented here.
autodoc_typehints_format = "short"

pygments_style = "sphinx"
pygments_dark_style = "monokai"

# Pages written alongside these ones, with their titles. A toctree lists each
# only once it exists, and a link to a missing one reads as its title, so the
# documentation builds warning-free at every stage.
OPTIONAL_PAGES = {
    "topics/security": "Security",
    "topics/protocol": "The WebSocket protocol",
    "topics/broadcast": "Broadcast",
    "topics/javascript": "The JavaScript client",
    "howto/sample-site": "The sample site",
}


def _missing(page: str) -> bool:
    return page in OPTIONAL_PAGES and not (DOCS / f"{page}.rst").exists()


def _drop_missing_pages(app: object, docname: str, source: list[str]) -> None:
    """Unlink optional pages that do not exist yet, in toctrees and ``:doc:`` roles."""
    base = Path(docname).parent

    def resolve(target: str) -> str:
        return target.lstrip("/") if target.startswith("/") else (base / target).as_posix()

    def toctree_entry(match: re.Match[str]) -> str:
        return "" if _missing(resolve(match.group(2))) else match.group(0)

    def doc_role(match: re.Match[str]) -> str:
        page = resolve(match.group(1))
        return f"*{OPTIONAL_PAGES[page]}*" if _missing(page) else match.group(0)

    text = re.sub(r"(?m)^(   )([\w/-]+)\n", toctree_entry, source[0])
    source[0] = re.sub(r":doc:`([\w/-]+)`", doc_role, text)


def setup(app: object) -> None:
    app.connect("source-read", _drop_missing_pages)  # type: ignore[attr-defined]
