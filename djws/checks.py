"""System checks for djws settings and the project around them.

Each check has a stable id (``djws.E001``...) documented in
``docs/reference/checks.rst``; never reuse an id for another meaning.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import WORKERS_ENV, settings
from .origin import pattern_error

__all__ = [
    "check_async_middleware",
    "check_databases",
    "check_databases_deploy",
    "check_origins",
    "check_session_engine",
    "check_websocket_urlconf",
]


@register(Tags.urls)
def check_websocket_urlconf(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """WEBSOCKET_URLCONF must be set and importable, with a urlpatterns list."""
    urlconf = settings.WEBSOCKET_URLCONF
    if not urlconf:
        return [
            Error(
                "WEBSOCKET_URLCONF is not set.",
                hint="Add WEBSOCKET_URLCONF = 'yourproject.websocket_urls' to your settings: "
                "the dotted path of a urlconf listing your @websocket views.",
                id="djws.E001",
            )
        ]
    if not isinstance(urlconf, str):
        return []  # a module object, as request.urlconf also allows
    try:
        module = importlib.import_module(urlconf)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported the same way
        return [
            Error(
                f"WEBSOCKET_URLCONF {urlconf!r} cannot be imported: {type(exc).__name__}: {exc}",
                hint="Check the dotted path, and that the module imports without errors.",
                id="djws.E002",
            )
        ]
    if not hasattr(module, "urlpatterns"):
        return [
            Error(
                f"WEBSOCKET_URLCONF {urlconf!r} has no urlpatterns.",
                hint="Define urlpatterns = [path(...), ...] in it, as in ROOT_URLCONF.",
                id="djws.E003",
            )
        ]
    return []


@register()
def check_async_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every middleware must be able to run synchronously."""
    errors: list[CheckMessage] = []
    for path in getattr(django_settings, "MIDDLEWARE", []):
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django reports unimportable middleware itself
        if not getattr(middleware, "sync_capable", True):
            errors.append(
                Error(
                    f"Middleware {path!r} is async-only.",
                    hint="djws runs views synchronously in greenlets; an asyncio event loop "
                    "in one greenlet makes every other greenlet's ORM calls fail with "
                    "SynchronousOnlyOperation. Use a sync-capable middleware.",
                    obj=path,
                    id="djws.E004",
                )
            )
    return errors


# Not tagged "database": Django runs those only with "check --database" (since 6.0),
# and these read the settings, without connecting.
@register()
def check_databases(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about database settings that misbehave under gevent.

    SQLite (W002) is only reported when ``runwebsocket`` is about to serve with
    ``DEBUG`` off, or by ``check --deploy`` (:func:`check_databases_deploy`):
    the test runner turns ``DEBUG`` off too, and a project's tests on SQLite
    are fine.
    """
    messages: list[CheckMessage] = []
    serving = WORKERS_ENV in os.environ
    for alias, config in django_settings.DATABASES.items():
        if config.get("CONN_MAX_AGE"):
            messages.append(
                Warning(
                    f"DATABASES[{alias!r}]['CONN_MAX_AGE'] is {config['CONN_MAX_AGE']!r}; "
                    "djws server processes close connections at the end of every request.",
                    hint="Under gevent every request runs in a new greenlet, so a persistent "
                    "connection is never reused and would leak. Set CONN_MAX_AGE = 0, or use "
                    "the psycopg 3 connection pool (OPTIONS={'pool': True}).",
                    obj=alias,
                    id="djws.W001",
                )
            )
        if serving and not django_settings.DEBUG:
            messages += _sqlite_warning(alias, config)
    return messages


@register(deploy=True)
def check_databases_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy``: SQLite has no place in production (W002)."""
    if WORKERS_ENV in os.environ:
        return []  # check_databases reports it already
    messages: list[CheckMessage] = []
    for alias, config in django_settings.DATABASES.items():
        messages += _sqlite_warning(alias, config)
    return messages


def _sqlite_warning(alias: str, config: dict[str, Any]) -> list[CheckMessage]:
    if "sqlite3" not in config.get("ENGINE", ""):
        return []
    return [
        Warning(
            f"DATABASES[{alias!r}] is SQLite.",
            hint="SQLite takes one writer at a time: a greenlet that waits inside a "
            "write transaction blocks every other writer in the process ('database "
            "is locked'). Fine for development; use PostgreSQL in production.",
            obj=alias,
            id="djws.W002",
        )
    ]


@register(Tags.security)
def check_origins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """WEBSOCKET_ALLOWED_ORIGINS must be None or a list of valid patterns."""
    patterns = settings.WEBSOCKET_ALLOWED_ORIGINS
    if patterns is None:
        return []
    if isinstance(patterns, str) or not hasattr(patterns, "__iter__"):
        return [
            Error(
                "WEBSOCKET_ALLOWED_ORIGINS must be a list of origin patterns.",
                hint="For example ['https://example.com'], or None for same-host and "
                "ALLOWED_HOSTS origins.",
                id="djws.E005",
            )
        ]
    return [
        Error(
            f"Invalid pattern in WEBSOCKET_ALLOWED_ORIGINS: {problem}.",
            hint="See djws.origin for the pattern grammar.",
            id="djws.E005",
        )
        for problem in map(pattern_error, patterns)
        if problem
    ]


@register(Tags.security)
def check_limits(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """WEBSOCKET_LIMITS must name known limits with positive numbers or None."""
    from .limits import Limits

    setting = settings.WEBSOCKET_LIMITS
    if not isinstance(setting, dict):
        problem = f"must be a dict, not {type(setting).__name__}"
    else:
        try:
            Limits.read(setting)
        except ValueError as exc:
            problem = str(exc)
        else:
            problem = ""
    proxies = settings.WEBSOCKET_TRUSTED_PROXIES
    messages: list[CheckMessage] = []
    if problem:
        messages.append(
            Error(
                f"WEBSOCKET_LIMITS: {problem}.",
                hint="A dict such as {'messages_per_second': 100}; see djws.limits.",
                id="djws.E006",
            )
        )
    if isinstance(proxies, str) or not all(isinstance(p, str) for p in proxies):
        messages.append(
            Error(
                "WEBSOCKET_TRUSTED_PROXIES must be a list of IP addresses.",
                hint="For example ['127.0.0.1', '::1'] (the default), or [] to trust none.",
                id="djws.E007",
            )
        )
    return messages


@register()
def check_session_engine(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Say what djws cannot see of sessions that end with a SESSION_ENGINE without a model."""
    from .sessions import session_model, uses_sessions

    if not uses_sessions() or session_model() is not None:
        return []
    return [
        Warning(
            f"SESSION_ENGINE {django_settings.SESSION_ENGINE!r} cannot tell djws when a "
            "session is deleted: WebSockets are closed at logout, at a password change and "
            "when the session expires, but not when it is deleted otherwise (cache eviction, "
            "a cleared cache or directory), and a session whose key Django changes (at login, "
            "in update_session_auth_hash) loses its sockets.",
            hint="Use the 'db' or 'cached_db' engine to have every deletion close the "
            "session's sockets, or silence djws.W030 if this is acceptable.",
            id="djws.W030",
        )
    ]


@register()
def check_live_streams(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The signed streams' settings: checks that import, a max age that is a duration."""
    from django.utils.module_loading import import_string

    errors: list[CheckMessage] = []
    configured = settings.WEBSOCKET_STREAM_CHECKS
    if not isinstance(configured, dict):
        configured = {None: configured}
    for pattern, check in configured.items():
        problem = None
        if not isinstance(pattern, str):
            problem = f"WEBSOCKET_STREAM_CHECKS is not a dict of name patterns: {pattern!r}"
        elif isinstance(check, str):
            try:
                check = import_string(check)
            except ImportError as exc:
                problem = f"WEBSOCKET_STREAM_CHECKS[{pattern!r}] cannot be imported: {exc}"
        if problem is None and not callable(check):
            problem = f"WEBSOCKET_STREAM_CHECKS[{pattern!r}] is not callable: {check!r}"
        if problem is not None:
            errors.append(
                Error(
                    problem,
                    hint="Map stream name patterns ('notifications:*') to functions "
                    "check(request, name), or their dotted paths.",
                    id="djws.E040",
                )
            )
    max_age = settings.WEBSOCKET_STREAM_MAX_AGE
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int | float)):
        errors.append(
            Error(
                f"WEBSOCKET_STREAM_MAX_AGE is {max_age!r}, not a number of seconds.",
                hint="Set it to the seconds a signed stream name stays valid, or None.",
                id="djws.E041",
            )
        )
    return errors
