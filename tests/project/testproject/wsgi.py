"""WSGI entry points: Django's for HTTP, djws's for gunicorn -k djws.worker.WebSocketWorker."""

import os

from django.core.wsgi import get_wsgi_application

from djws.wsgi import get_wsgi_websocket_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

application = get_wsgi_application()
websocket = get_wsgi_websocket_application()
