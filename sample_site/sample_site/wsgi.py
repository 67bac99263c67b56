"""WSGI entry points: ``application`` for HTTP, ``websocket`` for gunicorn run directly.

``manage.py runwebsocket`` needs neither; they are for::

    gunicorn sample_site.wsgi                                           # pages
    gunicorn -k djws.worker.WebSocketWorker sample_site.wsgi:websocket  # WebSockets
"""

import os

from django.core.wsgi import get_wsgi_application

from djws.wsgi import get_wsgi_websocket_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_site.settings")

application = get_wsgi_application()
websocket = get_wsgi_websocket_application()
