"""Settings of the djws sample site.

A playground meant to start with one command: SQLite, djws's default broadcast
backend (``local://``: nothing else to start), no web server in front. The live
pages' htmx and Turbo come from npm, pinned by ``package-lock.json`` and
installed into ``node_modules`` by ``run.sh`` (``npm ci``); their ``dist``
folders are static files (``STATICFILES_DIRS``). The environment changes what a
deployment needs:

``DJANGO_DEBUG``            ``0`` to turn DEBUG off (default ``1``);
``DJANGO_SECRET_KEY``       the secret key (a fixed, public one by default);
``DJANGO_ALLOWED_HOSTS``    comma-separated host names (needed when DEBUG is off);
``SAMPLE_SITE_DATABASE``    the SQLite file (default ``db.sqlite3`` beside manage.py);
``WEBSOCKET_SERVER_URL``    where pages served by ``runserver`` find the WebSocket
                            server (default: their host name, port 8001);
``WEBSOCKET_BROADCAST_URL`` the broadcast backend (default ``local://``: this machine);
``WEBSOCKET_CHAT_HISTORY``  messages per chat room kept and shown to newcomers (50).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "djws-sample-site-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "djws",
    "djws.contrib.chat",  # the chat server and its history table
    "playground",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sample_site.urls"
WSGI_APPLICATION = "sample_site.wsgi.application"

# djws: the WebSocket views (the built-in echo and ping servers, and the chat).
WEBSOCKET_URLCONF = "sample_site.websocket_urls"
WEBSOCKET_SERVER_URL = os.environ.get("WEBSOCKET_SERVER_URL") or None
WEBSOCKET_BROADCAST_URL = os.environ.get("WEBSOCKET_BROADCAST_URL", "local://")
WEBSOCKET_CHAT_HISTORY = int(os.environ.get("WEBSOCKET_CHAT_HISTORY", "50"))

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SAMPLE_SITE_DATABASE", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    ("htmx.org", NODE_MODULES / "htmx.org" / "dist"),
    ("htmx-ext-ws", NODE_MODULES / "htmx-ext-ws" / "dist"),
    ("turbo", NODE_MODULES / "@hotwired" / "turbo" / "dist"),
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"djws": {"handlers": ["console"], "level": "INFO"}},
}
