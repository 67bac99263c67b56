"""PostgreSQL access for the broadcast backend: psycopg 3 or psycopg2, whichever is installed.

The backend needs a handful of calls -- connect in autocommit, execute, read
notifications without waiting, close -- and the connection parameters of a URL
or of a ``DATABASES`` alias. They are here, so that :mod:`.postgres` reads as
what it does with them.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = ["Driver", "alias_of", "connection_params"]


class Driver:
    """The few calls djws needs, for psycopg 3 or psycopg2."""

    def __init__(self, driver: str | None = None) -> None:
        """Use ``driver`` ("psycopg" or "psycopg2"), or the first one installed."""
        try:
            if driver == "psycopg2":
                raise ImportError(driver)
            import psycopg
        except ImportError:
            try:
                import psycopg2
            except ImportError:
                raise ImproperlyConfigured(
                    "The PostgreSQL broadcast backend needs psycopg (pip install "
                    "'psycopg[binary]') or psycopg2."
                ) from None
            self.module: Any = psycopg2
            self.version = 2
        else:
            self.module = psycopg
            self.version = 3
        self.Error: type[Exception] = self.module.Error

    def connect(
        self,
        params: str | dict[str, Any],
        application_name: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """An autocommit connection; ``application_name`` unless the URL sets one.

        ``timeout`` bounds connecting and, on the server, every statement
        (``statement_timeout``), unless the URL or alias sets them.
        """
        extra: dict[str, Any] = {}
        if application_name and "application_name" not in params:
            extra["application_name"] = application_name
        if timeout is not None:
            if "connect_timeout" not in params:
                extra["connect_timeout"] = max(2, math.ceil(timeout))  # libpq: whole seconds
            if "options" not in params:
                extra["options"] = f"-c statement_timeout={int(timeout * 1000)}"
        if self.version == 3:
            if isinstance(params, str):
                return self.module.connect(params, autocommit=True, **extra)
            return self.module.connect(**params, autocommit=True, **extra)
        if isinstance(params, str):
            conn = self.module.connect(params, **extra)
        else:
            conn = self.module.connect(**{**params, **extra})
        conn.autocommit = True
        return conn

    def execute(self, conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        cursor = conn.cursor()
        try:
            cursor.execute(sql, args)
            return cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()

    def notifies(self, conn: Any) -> list[tuple[str, str]]:
        """Notifications received so far, without waiting."""
        if self.version == 3:
            return [(n.channel, n.payload) for n in conn.notifies(timeout=0)]
        conn.poll()
        received = [(n.channel, n.payload) for n in conn.notifies]
        del conn.notifies[:]
        return received

    def close(self, conn: Any) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection
            conn.close()


def alias_of(url: str) -> str | None:
    """The ``DATABASES`` alias of a ``database://ALIAS`` URL; None for other URLs."""
    if not url.startswith("database://"):
        return None
    return url[len("database://") :].strip("/") or "default"


def connection_params(url: str) -> str | dict[str, Any]:
    """libpq connection parameters: the URL itself, or a DATABASES alias's settings."""
    alias = alias_of(url)
    if alias is None:
        return url
    from django.db import connections

    try:
        wrapper = connections[alias]
    except Exception as exc:
        raise ImproperlyConfigured(
            f"WEBSOCKET_BROADCAST_URL {url!r}: no database alias {alias!r} in DATABASES"
        ) from exc
    if wrapper.vendor != "postgresql":
        raise ImproperlyConfigured(
            f"WEBSOCKET_BROADCAST_URL {url!r}: DATABASES[{alias!r}] is {wrapper.vendor}, "
            "not PostgreSQL; LISTEN/NOTIFY needs PostgreSQL"
        )
    # Not libpq parameters, or (application_name) one djws sets to tell its own
    # connections apart in pg_stat_activity.
    drop = {
        "context",
        "cursor_factory",
        "prepare_threshold",
        "server_side_binding",
        "pool",
        "application_name",
    }
    return {
        key: value
        for key, value in wrapper.get_connection_params().items()
        if key not in drop and isinstance(value, (str, int, float)) and value != ""
    }
