"""Broadcast backends, chosen by ``WEBSOCKET_BROADCAST_URL``.

========================================  ==========================================
URL                                       backend
========================================  ==========================================
``local://`` (default)                    :mod:`.local`: runwebsocket on this machine
``memory://``                             :mod:`.memory`: this process only
``redis://``, ``rediss://``, ``unix://``  :mod:`.redis`: Redis pub/sub (redis-py)
``postgresql://``, ``postgres://``        :mod:`.postgres`: LISTEN/NOTIFY
``database://ALIAS``                      :mod:`.postgres`, with a DATABASES alias
========================================  ==========================================

:func:`get_backend` builds one backend per process, lazily (after gunicorn
forked the worker), and a new one if the setting changes (``override_settings``).
The process's hub registers itself once (:func:`set_receiver`) and is attached
to every backend built from then on: this package never imports the hub.
"""

from __future__ import annotations

import os
import threading

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ...conf import settings
from .base import Backend, Receiver

__all__ = [
    "BACKENDS",
    "Backend",
    "backend_path",
    "deliver_in_process",
    "get_backend",
    "reset_backend",
    "set_receiver",
]

BACKENDS = {
    "local": "djws.broadcast.backends.local.LocalBackend",
    "memory": "djws.broadcast.backends.memory.MemoryBackend",
    "redis": "djws.broadcast.backends.redis.RedisBackend",
    "rediss": "djws.broadcast.backends.redis.RedisBackend",
    "unix": "djws.broadcast.backends.redis.RedisBackend",
    "postgresql": "djws.broadcast.backends.postgres.PostgresBackend",
    "postgres": "djws.broadcast.backends.postgres.PostgresBackend",
    "database": "djws.broadcast.backends.postgres.PostgresBackend",
}

_lock = threading.Lock()
_backend: Backend | None = None
_pid = 0
_receiver: Receiver | None = None
_in_process = False


def deliver_in_process() -> None:
    """From now on, broadcast inside this process, whatever ``WEBSOCKET_BROADCAST_URL`` says.

    :mod:`djws.test` calls it: a test process serves its views itself, so
    ``memory://`` is exactly right there, and it needs no service and no
    gevent patch (a Redis or PostgreSQL listener would block an unpatched test).
    """
    global _in_process
    _in_process = True


def set_receiver(receiver: Receiver) -> None:
    """Deliver what this process's backends receive to ``receiver`` (the hub)."""
    global _receiver
    _receiver = receiver
    if _backend is not None:
        _backend.attach(receiver)


def backend_path(url: object) -> str:
    """The dotted path of the backend class for ``url``; raise ImproperlyConfigured."""
    if not isinstance(url, str) or "://" not in url:
        raise ImproperlyConfigured(
            f"WEBSOCKET_BROADCAST_URL must be a URL such as 'local://', "
            f"'redis://localhost:6379/0' or 'postgresql://host/db', not {url!r}"
        )
    scheme = url.split("://", 1)[0].lower()
    try:
        return BACKENDS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in BACKENDS)
        raise ImproperlyConfigured(
            f"WEBSOCKET_BROADCAST_URL {url!r}: unknown scheme {scheme!r} (known: {known})"
        ) from None


def get_backend() -> Backend:
    """This process's backend for the current ``WEBSOCKET_BROADCAST_URL``."""
    global _backend, _pid
    url = "memory://" if _in_process else settings.WEBSOCKET_BROADCAST_URL
    backend = _backend
    if backend is not None and backend.url == url and _pid == os.getpid():
        return backend
    with _lock:
        if _backend is not None and _backend.url == url and _pid == os.getpid():
            return _backend
        if _backend is not None and _pid == os.getpid():
            _backend.close()
        cls = import_string(backend_path(url))
        _backend = cls(
            url,
            prefix=settings.WEBSOCKET_BROADCAST_PREFIX,
            presence_ttl=float(settings.WEBSOCKET_BROADCAST_PRESENCE_TTL),
            history_length=int(settings.WEBSOCKET_BROADCAST_HISTORY),
            history_age=float(settings.WEBSOCKET_BROADCAST_HISTORY_AGE),
            timeout=float(settings.WEBSOCKET_BROADCAST_TIMEOUT),
        )
        if _receiver is not None:
            _backend.attach(_receiver)
        _pid = os.getpid()
        return _backend


def reset_backend() -> None:
    """Close and forget this process's backend (tests)."""
    global _backend
    with _lock:
        if _backend is not None:
            _backend.close()
        _backend = None
