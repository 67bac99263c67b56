"""Broadcast backends, chosen by ``WEBSOCKET_BROADCAST_URL``.

===========================================  ==========================================
URL                                          backend
===========================================  ==========================================
``local://`` (default)                       :mod:`.local`: runwebsocket on this machine
``memory://``                                :mod:`.memory`: this process only
``redis://``, ``rediss://``, ``unix://``     :mod:`.redis`: Redis pub/sub (redis-py)
``redis+sentinel://``, ``redis+cluster://``  :mod:`.redis`: Sentinel, Cluster
``postgresql://``, ``postgres://``           :mod:`.postgres`: LISTEN/NOTIFY
``database://ALIAS``                         :mod:`.postgres`, with a DATABASES alias
===========================================  ==========================================

:class:`BackendManager` builds this process's backend when it is first needed
(after gunicorn forked the worker), and a new one if the setting changes
(``override_settings``). A process that serves WebSockets says so once,
:meth:`BackendManager.serve`, with the hub to deliver to: the WSGI application
when a worker starts (:mod:`djws.wsgi`), the test client in a test process. Any
other process (a management command, a Celery worker) only publishes. Nothing
is wired by importing a module, and backends import neither the hub nor the
server.
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
    "BackendManager",
    "backend_path",
    "backends",
    "get_backend",
]

BACKENDS = {
    "local": "djws.broadcast.backends.local.LocalBackend",
    "memory": "djws.broadcast.backends.memory.MemoryBackend",
    "redis": "djws.broadcast.backends.redis.RedisBackend",
    "rediss": "djws.broadcast.backends.redis.RedisBackend",
    "unix": "djws.broadcast.backends.redis.RedisBackend",
    "redis+sentinel": "djws.broadcast.backends.redis.RedisBackend",
    "rediss+sentinel": "djws.broadcast.backends.redis.RedisBackend",
    "redis+cluster": "djws.broadcast.backends.redis.RedisBackend",
    "rediss+cluster": "djws.broadcast.backends.redis.RedisBackend",
    "postgresql": "djws.broadcast.backends.postgres.PostgresBackend",
    "postgres": "djws.broadcast.backends.postgres.PostgresBackend",
    "database": "djws.broadcast.backends.postgres.PostgresBackend",
}


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


class BackendManager:
    """This process's broadcast backend: built on demand, started when the process serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backend: Backend | None = None
        self._pid = 0
        self._receiver: Receiver | None = None
        self._in_process = False

    def serve(self, receiver: Receiver, *, in_process: bool = False) -> Backend:
        """This process serves WebSockets: deliver what it receives to ``receiver`` (its hub).

        Starts the backend (a ``local://`` worker listens for the machine's other
        processes; Redis and PostgreSQL subscribe when groups are joined).
        ``in_process``: broadcast inside this process whatever
        ``WEBSOCKET_BROADCAST_URL`` says -- for the test client, whose process
        serves its views itself and needs no service and no gevent patch there.
        """
        with self._lock:
            self._receiver = receiver
            self._in_process = self._in_process or in_process
            backend = self._backend if self._pid == os.getpid() else None
        if backend is not None and backend.url == self._url():
            backend.start_serving(receiver)
            return backend
        return self.get()

    def get(self) -> Backend:
        """The backend for the current ``WEBSOCKET_BROADCAST_URL``."""
        url = self._url()
        backend = self._backend
        if backend is not None and backend.url == url and self._pid == os.getpid():
            return backend
        with self._lock:
            backend = self._backend
            if backend is not None and self._pid == os.getpid():
                if backend.url == url:
                    return backend
                backend.close()
            backend = self._backend = self._build(url)
            self._pid = os.getpid()
            if self._receiver is not None:
                backend.start_serving(self._receiver)
            return backend

    def _url(self) -> str:
        return "memory://" if self._in_process else str(settings.WEBSOCKET_BROADCAST_URL)

    def reset(self) -> None:
        """Close and forget this process's backend (tests)."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
            self._backend = None

    @staticmethod
    def _build(url: str) -> Backend:
        cls = import_string(backend_path(url))
        backend: Backend = cls(
            url,
            prefix=settings.WEBSOCKET_BROADCAST_PREFIX,
            presence_ttl=float(settings.WEBSOCKET_BROADCAST_PRESENCE_TTL),
            history_length=int(settings.WEBSOCKET_BROADCAST_HISTORY),
            history_age=float(settings.WEBSOCKET_BROADCAST_HISTORY_AGE),
            timeout=float(settings.WEBSOCKET_BROADCAST_TIMEOUT),
            replicas=int(settings.WEBSOCKET_BROADCAST_REPLICAS),
        )
        return backend


#: This process's backend manager.
backends = BackendManager()


def get_backend() -> Backend:
    """This process's backend for the current ``WEBSOCKET_BROADCAST_URL``."""
    return backends.get()
