"""System checks of the broadcast settings: a backend that exists, its driver
installed, and (when a server is about to start) a Redis of the shape its URL names.

Registered by :class:`djws.apps.DjwsConfig`; ids ``djws.E020``... in
``docs/reference/checks.rst``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register

from ..conf import DEFAULTS, WORKERS_ENV, settings

__all__ = [
    "check_broadcast",
    "check_broadcast_driver",
    "check_broadcast_shape",
    "check_broadcast_shape_deploy",
]


@register()
def check_broadcast(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """WEBSOCKET_BROADCAST_URL must name a backend; local:// and memory:// cannot span workers."""
    from django.core.exceptions import ImproperlyConfigured

    from .backends import backend_path

    url = settings.WEBSOCKET_BROADCAST_URL
    try:
        path = backend_path(url)
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Use 'local://' (the default: runwebsocket on this machine), "
                "'memory://' (one process), 'redis://host:6379/0', "
                "'postgresql://user@host/db' or 'database://default'.",
                id="djws.E020",
            )
        ]
    workers = os.environ.get(WORKERS_ENV, "1")
    in_memory = path.endswith((".MemoryBackend", ".LocalBackend"))
    if in_memory and workers.isdigit() and int(workers) > 1:
        return [
            Error(
                f"WEBSOCKET_BROADCAST_URL is {url!r}"
                f"{' (the default)' if url == DEFAULTS['WEBSOCKET_BROADCAST_URL'] else ''} "
                f"but runwebsocket starts {workers} workers: a message published in one "
                "worker would never reach the WebSockets of the others.",
                hint="Set WEBSOCKET_BROADCAST_URL to a shared backend "
                "('redis://localhost:6379/0' or 'database://default'), or run one worker.",
                id="djws.E021",
            )
        ]
    return []


#: For each broadcast backend: the packages it can use, what is missing when none
#: imports, and the extras of setup.cfg that install one.
DRIVERS = {
    "RedisBackend": (("redis",), "the redis package is not", "pip install 'djws[redis]'"),
    "PostgresBackend": (
        ("psycopg", "psycopg2"),
        "neither psycopg nor psycopg2 is",
        "pip install 'djws[psycopg]' (psycopg 3) or pip install 'djws[postgresql]' (psycopg2)",
    ),
}


@register()
def check_broadcast_driver(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The client library of the broadcast backend must be installed."""
    from django.core.exceptions import ImproperlyConfigured

    from .backends import backend_path

    url = settings.WEBSOCKET_BROADCAST_URL
    try:
        backend = backend_path(url).rpartition(".")[2]
    except ImproperlyConfigured:
        return []  # check_broadcast reports it
    if backend not in DRIVERS:
        return []
    packages, missing, install = DRIVERS[backend]
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError:
            continue
        return []
    scheme = url.split("://", 1)[0].lower()
    return [
        Error(
            f"WEBSOCKET_BROADCAST_URL is a {scheme}:// URL, but {missing} installed.",
            hint=f"Install it: {install}.",
            id="djws.E022",
        )
    ]


@register()
def check_broadcast_shape(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """When runwebsocket is about to serve: the Redis URL's shape must be the server's.

    Like Django's database checks, which run only when a command names its
    databases, this one touches the network only when it matters: when
    ``runwebsocket`` serves (it sets ``DJWS_RUNWEBSOCKET_WORKERS``), and under
    ``check --deploy`` (:func:`check_broadcast_shape_deploy`).
    """
    if os.environ.get(WORKERS_ENV) is None:
        return []
    return _broadcast_shape()


@register(deploy=True)
def check_broadcast_shape_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy``: connect to Redis, and name a mismatch of shapes."""
    if os.environ.get(WORKERS_ENV) is not None:
        return []  # check_broadcast_shape did
    return _broadcast_shape()


def _broadcast_shape() -> list[CheckMessage]:
    from django.core.exceptions import ImproperlyConfigured

    from .backends import backend_path

    url = settings.WEBSOCKET_BROADCAST_URL
    try:
        if not backend_path(url).endswith(".RedisBackend"):
            return []
        import redis

        from .backends.base import redact
        from .backends.redis import RedisBackend, describe
    except (ImproperlyConfigured, ImportError):
        return []  # check_broadcast and check_broadcast_driver report it
    timeout = min(float(settings.WEBSOCKET_BROADCAST_TIMEOUT), 2.0)
    try:
        backend = RedisBackend(url, prefix="djws-check", presence_ttl=30, timeout=timeout)
        try:
            problem = backend.check_shape()
        finally:
            backend.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        return [
            Warning(
                f"Cannot reach Redis at {redact(url)} to check WEBSOCKET_BROADCAST_URL: "
                f"{describe(exc)}",
                hint="djws keeps trying once it serves; publish() fails until then.",
                id="djws.W003",
            )
        ]
    if problem is not None:
        return [Error(problem, id="djws.E023")]
    if backend.shape.cluster and "+cluster" not in url.split("://", 1)[0]:
        return [
            Warning(
                f"WEBSOCKET_BROADCAST_URL {redact(url)!r} names one node of a Redis Cluster: "
                "djws works with the whole cluster, but cannot start while that node is down.",
                hint="Name several nodes: 'redis+cluster://host1:port,host2:port/'.",
                id="djws.W004",
            )
        ]
    return []
