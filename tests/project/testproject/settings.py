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

ROOT_URLCONF = "testproject.urls"
WEBSOCKET_URLCONF = os.environ.get("DJWS_TEST_WEBSOCKET_URLCONF", "testproject.websocket_urls")
if WEBSOCKET_URLCONF == "none":
    del WEBSOCKET_URLCONF
WSGI_APPLICATION = "testproject.wsgi.application"
STATIC_URL = "/static/"
USE_TZ = True

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"djws": {"handlers": ["console"], "level": "INFO"}},
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
