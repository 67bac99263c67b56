"""djws's application for gunicorn run directly, as docs/howto/systemd.rst shows::

    gunicorn -k djws.worker.WebSocketWorker --no-control-socket benchproject.wsgi_djws:websocket

The reconnect storm uses it with ``--storm-backlog``: gunicorn's ``--backlog``
sets the listen queue, which ``runwebsocket`` fixes at 2048.
"""

import os

from djws.wsgi import get_wsgi_websocket_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings_djws")

websocket = get_wsgi_websocket_application()
