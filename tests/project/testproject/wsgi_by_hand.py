"""A WebSocketRouter built by hand instead of by get_wsgi_websocket_application().

That skips the refusal of gevent-websocket's worker at start, so a test can see
what the router answers when such a worker hands it a handshake anyway.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
django.setup()

from djws.dispatcher import WebSocketDispatcher  # noqa: E402 - after setup
from djws.wsgi import WebSocketRouter  # noqa: E402

websocket = WebSocketRouter(WebSocketDispatcher())
