"""The baseline: a bare WSGI app on gevent-websocket, served by gunicorn.

Run with ``gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker
raw_app:application``. No Django, no middleware, no session: the floor that djws's
Django request cycle is measured against. Endpoints match the Django projects:
``/echo``, ``/whoami`` (sends a name, then echoes; there is no user here, the cookie
is ignored), ``/sub`` (joins the broadcast set, sends "ready", then waits) and
``/control`` (each message received is sent to every subscriber).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

SUBSCRIBERS: set[Any] = set()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Dispatch a WebSocket by path; anything else is a 400."""
    ws = environ.get("wsgi.websocket")
    path = environ.get("PATH_INFO", "")
    if ws is None:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"WebSocket only\n"]
    if path == "/whoami":
        ws.send("raw")
    if path == "/sub":
        SUBSCRIBERS.add(ws)
        ws.send("ready")
    try:
        while (message := ws.receive()) is not None:
            if path == "/control":
                for subscriber in list(SUBSCRIBERS):
                    try:
                        subscriber.send(message)
                    except Exception:  # noqa: BLE001 - a gone subscriber is dropped
                        SUBSCRIBERS.discard(subscriber)
            elif path != "/sub":
                ws.send(message)
    finally:
        SUBSCRIBERS.discard(ws)
    return []
