"""System checks for djws.auth: the middleware's place, its classes, the ticket store.

Registered by djws's app config; documented in ``docs/reference/checks.rst``.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from ..conf import WORKERS_ENV, settings

__all__ = ["check_authentication", "check_ticket_store", "check_ticket_store_deploy"]

AUTHENTICATION_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
#: Caches that keep their entries in one process: used tickets are not seen by the others.
PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache",)
DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"


def _imported(path: str) -> Any:
    try:
        return import_string(path)
    except ImportError:
        return None


def _middleware_index() -> int | None:
    """Where djws's middleware (or a subclass) is in MIDDLEWARE, or None."""
    from .middleware import WebSocketAuthenticationMiddleware

    for n, path in enumerate(getattr(django_settings, "MIDDLEWARE", [])):
        cls = _imported(path)
        if isinstance(cls, type) and issubclass(cls, WebSocketAuthenticationMiddleware):
            return n
    return None


def _uses_tickets() -> bool:
    from .authentication import TicketAuthentication

    if _middleware_index() is None:
        return False
    classes = [_imported(path) for path in settings.WEBSOCKET_AUTHENTICATION_CLASSES]
    return any(isinstance(c, type) and issubclass(c, TicketAuthentication) for c in classes)


@register(Tags.security)
def check_authentication(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The middleware comes after AuthenticationMiddleware; its classes import (E030, E031)."""
    index = _middleware_index()
    if index is None:
        return []
    errors: list[CheckMessage] = []
    middleware = list(getattr(django_settings, "MIDDLEWARE", []))
    if AUTHENTICATION_MIDDLEWARE not in middleware[:index]:
        errors.append(
            Error(
                f"{middleware[index]!r} must come after {AUTHENTICATION_MIDDLEWARE!r} in "
                "MIDDLEWARE.",
                hint="AuthenticationMiddleware sets request.user from the session; djws's "
                "replaces it when a handshake carries a ticket or token, so it goes after it.",
                id="djws.E030",
            )
        )
    for path in settings.WEBSOCKET_AUTHENTICATION_CLASSES:
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(
                Error(
                    f"WEBSOCKET_AUTHENTICATION_CLASSES names {path!r}, which cannot be "
                    f"imported: {exc}",
                    hint="Check the dotted path; Django REST framework's classes need "
                    "pip install 'djws[drf]'.",
                    id="djws.E031",
                )
            )
    return errors


@register(Tags.security, Tags.caches)
def check_ticket_store(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Tickets need a real cache (E032), shared by every worker that serves (W031)."""
    if not _uses_tickets():
        return []
    alias = settings.WEBSOCKET_TICKET_CACHE
    caches = getattr(django_settings, "CACHES", {})
    if alias not in caches:
        return [
            Error(
                f"WEBSOCKET_TICKET_CACHE is {alias!r}, which is not in CACHES.",
                hint="Name a cache of CACHES: djws remembers used tickets there.",
                id="djws.E032",
            )
        ]
    backend = caches[alias].get("BACKEND", "")
    if backend == DUMMY_CACHE:
        return [
            Error(
                f"CACHES[{alias!r}] is a DummyCache: it remembers nothing, so every ticket "
                "could open any number of WebSockets.",
                hint="Point WEBSOCKET_TICKET_CACHE at a cache that keeps entries "
                "(Redis, Memcached, the database; LocMemCache for one process).",
                id="djws.E032",
            )
        ]
    workers = os.environ.get(WORKERS_ENV, "1")
    if backend in PER_PROCESS_CACHES and workers.isdigit() and int(workers) > 1:
        return [_per_process_warning(alias, f"runwebsocket starts {workers} workers")]
    return []


@register(Tags.security, Tags.caches, deploy=True)
def check_ticket_store_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy``: a per-process ticket store is a W031 whatever the workers."""
    if WORKERS_ENV in os.environ or not _uses_tickets():
        return []  # check_ticket_store reports it for a server
    alias = settings.WEBSOCKET_TICKET_CACHE
    backend = getattr(django_settings, "CACHES", {}).get(alias, {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES:
        return [_per_process_warning(alias, "production usually runs several processes")]
    return []


def _per_process_warning(alias: str, why: str) -> Warning:
    return Warning(
        f"WEBSOCKET_TICKET_CACHE is {alias!r}, a per-process cache, and {why}: a ticket "
        "used in one process is not remembered by the others, so it could open one "
        "WebSocket in each.",
        hint="Use a cache every process shares (django.core.cache.backends.redis.RedisCache, "
        "Memcached, or the database) for WEBSOCKET_TICKET_CACHE.",
        id="djws.W031",
    )
