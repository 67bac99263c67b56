"""The public API: every module declares ``__all__`` and every name in it exists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .support import PROJECT, project_env

pytestmark = pytest.mark.fast

CHECK = r"""
import importlib, pkgutil, django
django.setup()
import djws
missing = []
for info in pkgutil.walk_packages(djws.__path__, "djws."):
    # bootstrap patches the process it is imported in; migrations are Django's.
    if info.name == "djws.server.bootstrap" or ".migrations" in info.name:
        continue
    module = importlib.import_module(info.name)
    if info.ispkg and not open(module.__file__).read().strip():
        continue  # an empty package marker, like management/
    if info.name.startswith("djws.management.commands."):
        continue  # commands expose Command, as Django expects
    names = getattr(module, "__all__", None)
    if names is None:
        missing.append(f"{info.name}: no __all__")
        continue
    missing += [f"{info.name}.{n}" for n in names if not hasattr(module, n)]
print("\n".join(missing) or "ok")
"""


def test_every_module_declares_all_and_exports_exist() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=PROJECT,
        env=project_env(DJANGO_SETTINGS_MODULE="testproject.settings"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_django_websockets_names_are_importable() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from djws.decorators import websocket; "
            "from djws.wsgi import get_wsgi_websocket_application; print('ok')",
        ],
        cwd=PROJECT,
        env=project_env(DJANGO_SETTINGS_MODULE="testproject.settings"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr


PUBLIC = r"""
import sys
import djws
assert not [m for m in sys.modules if m.split(".")[0] in ("django", "gevent")], "imported early"
import django
django.setup()
from importlib import import_module
wrong = [
    name for name in djws.__all__
    if name != "__version__"
    and getattr(djws, name) is not getattr(import_module(djws._EXPORTS[name]), name)
]
print("\n".join(wrong) or "ok")
"""


def test_the_public_api_is_importable_from_djws_itself_without_importing_it_first() -> None:
    """``import djws`` imports nothing (the server imports it before gevent's patch);
    each public name then comes from the module that defines it."""
    result = subprocess.run(
        [sys.executable, "-c", PUBLIC],
        cwd=PROJECT,
        env=project_env(DJANGO_SETTINGS_MODULE="testproject.settings"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
