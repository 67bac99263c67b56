"""Settings of the project the tests run real servers for.

``DJWS_TEST_DATABASE`` picks the database: ``sqlite`` (default), ``psycopg2``
or ``psycopg`` (both the real PostgreSQL at ``DJWS_TEST_PG_HOST`` and
``DJWS_TEST_PG_PORT``, database ``DJWS_TEST_PG_NAME``). ``DJWS_TEST_SQLITE`` names
the SQLite file. ``DJWS_TEST_CHAT=0`` leaves the optional ``djws.contrib.chat``
app out; ``DJWS_TEST_WITHOUT_DJWS=1`` leaves djws itself out, as a user might
forget to add it. ``DJWS_TEST_ALLOWED_HOSTS`` and ``DJWS_TEST_COMMON_MIDDLEWARE=0``
change how the request's host is validated (tests/test_protocol_origin.py).
``DJWS_TEST_SECOND_DATABASE=1`` adds an in-memory ``other`` database (tests/toolkit).
``DJWS_TEST_PG_ISOLATION`` sets PostgreSQL's isolation level (``repeatable read``).
"""

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "djws-tests-not-secret"
DEBUG = os.environ.get("DJWS_TEST_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
if "DJWS_TEST_ALLOWED_HOSTS" in os.environ:  # comma-separated; "none" for an empty list
    _hosts = os.environ["DJWS_TEST_ALLOWED_HOSTS"]
    ALLOWED_HOSTS = [] if _hosts == "none" else _hosts.split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "djws",
    "djws.contrib.chat",
    "rest_framework",
    "rest_framework.authtoken",
    "testproject",
]
if os.environ.get("DJWS_TEST_CHAT", "1") == "0":
    INSTALLED_APPS.remove("djws.contrib.chat")
if os.environ.get("DJWS_TEST_WITHOUT_DJWS") == "1":  # the mistake of forgetting it
    INSTALLED_APPS = [app for app in INSTALLED_APPS if not app.startswith("djws")]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "testproject.middleware.StampMiddleware",
]
if os.environ.get("DJWS_TEST_COMMON_MIDDLEWARE", "1") == "0":  # nothing validates Host then
    MIDDLEWARE.remove("django.middleware.common.CommonMiddleware")

# Authentication of clients without a cookie (tests/test_auth_*.py). DJWS_TEST_AUTH_MIDDLEWARE:
# "0" leaves djws's middleware out, "first" puts it before AuthenticationMiddleware.
_auth_middleware = os.environ.get("DJWS_TEST_AUTH_MIDDLEWARE", "1")
if _auth_middleware == "1":
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "djws.auth.WebSocketAuthenticationMiddleware",
    )
elif _auth_middleware == "first":
    MIDDLEWARE.insert(0, "djws.auth.WebSocketAuthenticationMiddleware")
WEBSOCKET_AUTHENTICATION_CLASSES = os.environ.get(
    "DJWS_TEST_AUTH_CLASSES",
    "djws.auth.TicketAuthentication "
    "rest_framework.authentication.TokenAuthentication "
    "rest_framework_simplejwt.authentication.JWTAuthentication "
    "testproject.drf_auth.HeaderlessAuthentication",
).split()
WEBSOCKET_TICKET_CACHE = os.environ.get("DJWS_TEST_TICKET_CACHE", "default")
REST_FRAMEWORK = {  # for djws.auth.drf.TicketAPIView
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ]
}
# simplejwt signs with SECRET_KEY unless told; PyJWT warns about keys under 32 bytes.
SIMPLE_JWT = {"SIGNING_KEY": "djws-tests-not-secret-jwt-signing-key"}
# The ticket store: "locmem" (Django's default), "dummy", or a redis:// URL.
_cache = os.environ.get("DJWS_TEST_CACHE", "locmem")
CACHES = {
    "default": {
        "BACKEND": {
            "locmem": "django.core.cache.backends.locmem.LocMemCache",
            "dummy": "django.core.cache.backends.dummy.DummyCache",
        }.get(_cache, "django.core.cache.backends.redis.RedisCache"),
        "LOCATION": _cache if _cache.startswith("redis") else "",
    }
}

ROOT_URLCONF = "testproject.urls"
WEBSOCKET_URLCONF = os.environ.get("DJWS_TEST_WEBSOCKET_URLCONF", "testproject.websocket_urls")
if WEBSOCKET_URLCONF == "none":
    del WEBSOCKET_URLCONF
WSGI_APPLICATION = "testproject.wsgi.application"
STATIC_URL = "/static/"
USE_TZ = True
# The live pages' htmx 2 and 4 and Turbo, from tests/npm (installed by the tests).
_NODE_MODULES = BASE_DIR.parent / "npm" / "node_modules"
STATICFILES_DIRS = [("npm", _NODE_MODULES)] if _NODE_MODULES.is_dir() else []

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
# Signed streams: "private:<username>" is that user's alone (testproject.live).
WEBSOCKET_STREAM_CHECKS = {"private:*": "testproject.live.own_stream"}
if "DJWS_TEST_STREAM_MAX_AGE" in os.environ:
    WEBSOCKET_STREAM_MAX_AGE = float(os.environ["DJWS_TEST_STREAM_MAX_AGE"])

_database = os.environ.get("DJWS_TEST_DATABASE", "sqlite")
if _database == "psycopg2":
    from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED  # noqa: F401 - driver check
elif _database == "psycopg":
    import psycopg  # noqa: F401 - the driver under test must be importable
if _database == "sqlite":
    DATABASES: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DJWS_TEST_SQLITE", str(BASE_DIR / "test.sqlite3")),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("DJWS_TEST_PG_NAME", "test"),
            "HOST": os.environ.get("DJWS_TEST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJWS_TEST_PG_PORT", "5432"),
            "USER": os.environ.get("DJWS_TEST_PG_USER", "postgres"),
            "OPTIONS": {"application_name": os.environ.get("DJWS_TEST_PG_APP", "djws-tests")},
            "CONN_MAX_AGE": int(os.environ.get("DJWS_TEST_CONN_MAX_AGE", "0")),
        }
    }
    if "DJWS_TEST_PG_ISOLATION" in os.environ:
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        _level = os.environ["DJWS_TEST_PG_ISOLATION"].upper().replace(" ", "_")
        DATABASES["default"]["OPTIONS"]["isolation_level"] = IsolationLevel[_level]

# A second database, for the toolkit's tests of publish(using=...): in memory.
if os.environ.get("DJWS_TEST_SECOND_DATABASE") == "1":
    DATABASES["other"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"djws": {"handlers": ["console"], "level": "INFO"}},
}
LOGGING["formatters"] = {}
if os.environ.get("DJWS_TEST_LOG_PIDS") == "1":  # which worker wrote each line
    LOGGING["formatters"]["pid"] = {"format": "%(process)d %(message)s"}
    LOGGING["handlers"]["console"]["formatter"] = "pid"
if os.environ.get("DJWS_TEST_LOG_REQUESTS") == "1":  # every record with its request, in full
    LOGGING["handlers"]["requests"] = {
        "class": "logging.StreamHandler",
        "formatter": "requests",
    }
    LOGGING["formatters"]["requests"] = {"()": "testproject.logs.RequestFormatter"}
    LOGGING["loggers"] = {
        "djws": {"handlers": ["console", "requests"], "level": "INFO"},
        "django": {"handlers": ["requests"], "level": "INFO"},
    }

# Tests tune djws's timing knobs through the environment.
for _name in (
    "WEBSOCKET_PING_INTERVAL",
    "WEBSOCKET_PING_TIMEOUT",
    "WEBSOCKET_IDLE_TIMEOUT",
    "WEBSOCKET_HANDSHAKE_TIMEOUT",
    "WEBSOCKET_CLOSE_TIMEOUT",
    "WEBSOCKET_MAX_MESSAGE_SIZE",
    "WEBSOCKET_WRITE_BUFFER_LIMIT",
    "WEBSOCKET_DB_RELEASE_DELAY",
    "WEBSOCKET_MAX_FRAME_SIZE",
    "WEBSOCKET_MAX_HEADER_SIZE",
    "WEBSOCKET_COMPRESSION",
    "WEBSOCKET_BROADCAST_HISTORY",
    "WEBSOCKET_BROADCAST_HISTORY_AGE",
    "WEBSOCKET_BROADCAST_TIMEOUT",
    "WEBSOCKET_BROADCAST_OUTBOX_LIMIT",
    "WEBSOCKET_TICKET_MAX_AGE",
    "WEBSOCKET_BROADCAST_REPLICAS",
):
    if _name in os.environ:
        globals()[_name] = (
            float(os.environ[_name]) if "." in os.environ[_name] else int(os.environ[_name])
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Broadcast tests (tests/test_broadcast_*.py) choose the backend and its knobs;
# a prefix per test run keeps concurrent runs sharing one Redis apart.
WEBSOCKET_BROADCAST_URL = os.environ.get("DJWS_TEST_BROADCAST_URL", "memory://")
# Sessions that end (tests/test_sessions_end.py).
if "DJWS_TEST_SESSION_COOKIE_AGE" in os.environ:
    SESSION_COOKIE_AGE = int(os.environ["DJWS_TEST_SESSION_COOKIE_AGE"])
if "DJWS_TEST_SESSION_ENGINE" in os.environ:
    SESSION_ENGINE = os.environ["DJWS_TEST_SESSION_ENGINE"]
WEBSOCKET_BROADCAST_PREFIX = os.environ.get("DJWS_TEST_BROADCAST_PREFIX", "djws")
if "DJWS_TEST_BROADCAST_PRESENCE_TTL" in os.environ:
    WEBSOCKET_BROADCAST_PRESENCE_TTL = float(os.environ["DJWS_TEST_BROADCAST_PRESENCE_TTL"])

# Limit tests (tests/test_limits.py) set WEBSOCKET_LIMITS as JSON; the fairness tests
# turn the per-connection rates off ("no limit configured").
if "DJWS_TEST_LIMITS" in os.environ:
    import json

    WEBSOCKET_LIMITS = json.loads(os.environ["DJWS_TEST_LIMITS"])

# Mistake tests (tests/test_core_mistakes.py): a project-wide origin list.
if "DJWS_TEST_ALLOWED_ORIGINS" in os.environ:
    WEBSOCKET_ALLOWED_ORIGINS = os.environ["DJWS_TEST_ALLOWED_ORIGINS"].split()

# Multi-host tests (tests/test_multihost.py) serve on addresses of their own
# network namespaces, and name them here: "10.213.7.11,10.213.7.12".
ALLOWED_HOSTS += [h for h in os.environ.get("DJWS_TEST_EXTRA_HOSTS", "").split(",") if h]
