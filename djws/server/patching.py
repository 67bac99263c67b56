"""Patch a server process for gevent before Django is imported.

Order matters: Django creates its per-thread database connection storage when
``django.db`` is imported. Imported before ``patch_all()``, that storage is a
native thread-local shared by every greenlet, and greenlets then trample each
other's transactions. psycopg 3 imported early stays blocking. So server
processes call :func:`patch` first thing and refuse to run if it was too late.

This module imports nothing from Django.
"""

from __future__ import annotations

import sys

__all__ = ["NotPatchedError", "ensure_patched", "patch"]

# Modules that capture blocking primitives or thread-locals at import time.
_TOO_EARLY = ("django.db", "psycopg")


class NotPatchedError(RuntimeError):
    """This process cannot serve WebSockets: gevent's patch is missing or late."""


_imported_before_patch: list[str] = []


def patch() -> None:
    """Monkey-patch the process for gevent, then make psycopg2 cooperative."""
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        _imported_before_patch.extend(name for name in _TOO_EARLY if name in sys.modules)
    monkey.patch_all()
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def ensure_patched() -> None:
    """Raise NotPatchedError unless :func:`patch` ran before Django and psycopg."""
    from gevent import monkey

    if not (monkey.is_module_patched("socket") and monkey.is_module_patched("threading")):
        raise NotPatchedError(
            "djws must run in a process that gevent has monkey-patched before Django "
            "is imported. Start it with `manage.py runwebsocket`, or with gunicorn and "
            "`-k djws.worker.WebSocketWorker` (without --preload)."
        )
    if _imported_before_patch:
        names = " and ".join(_imported_before_patch)
        raise NotPatchedError(
            f"{names} was imported before gevent patched this process, so its "
            "connections would be shared between greenlets or block them all. Do not "
            "import Django or psycopg in a gunicorn config file, and do not use --preload."
        )
