"""WebSockets for Django as plain synchronous views, served by gunicorn and gevent.

The public API, importable from here::

    from djws import websocket, publish, send_to_user

    @websocket
    def room(request, ws, name):
        ws.join(f"room-{name}")
        for message in ws:
            publish(f"room-{name}", message)

Each name comes from the module that defines it (listed in ``_EXPORTS``), and
is imported only when first used: ``python -m djws.server.bootstrap`` imports
this package before gevent patches the process, so importing it must import
nothing else. Type checkers read the names' types in ``__init__.pyi``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it.
_EXPORTS = {
    # Views
    "websocket": "djws.decorators",
    "event_stream": "djws.eventstream",
    "WebSocket": "djws.connection",
    "CloseCode": "djws.connection",
    "ConnectionClosed": "djws.exceptions",
    # URLs
    "reverse_websocket": "djws.reverse",
    "websocket_url": "djws.reverse",
    "event_stream_url": "djws.reverse",
    # Broadcast
    "publish": "djws.broadcast",
    "send_to_user": "djws.broadcast",
    "send_to_session": "djws.broadcast",
    "close_user": "djws.broadcast",
    "close_session": "djws.broadcast",
    "close_group": "djws.broadcast",
    "history": "djws.broadcast",
    "presence": "djws.broadcast",
    "GroupMessage": "djws.broadcast",
    "GroupReset": "djws.broadcast",
    "Joined": "djws.broadcast",
    "Position": "djws.broadcast",
    "BroadcastError": "djws.broadcast",
    "HistoryError": "djws.broadcast",
    "PresenceError": "djws.broadcast",
    "PublishError": "djws.broadcast",
    # Serving
    "get_wsgi_websocket_application": "djws.wsgi",
}

__all__ = [
    "BroadcastError",
    "CloseCode",
    "ConnectionClosed",
    "GroupMessage",
    "GroupReset",
    "HistoryError",
    "Joined",
    "Position",
    "PresenceError",
    "PublishError",
    "WebSocket",
    "__version__",
    "close_group",
    "close_session",
    "close_user",
    "event_stream",
    "event_stream_url",
    "get_wsgi_websocket_application",
    "history",
    "presence",
    "publish",
    "reverse_websocket",
    "send_to_session",
    "send_to_user",
    "websocket",
    "websocket_url",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'djws' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
