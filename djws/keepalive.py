"""Keepalive pings, dead-peer detection and the idle timeout, for a whole worker.

One loop per worker visits every open connection once a second, instead of a
timer per connection: 10,000 idle sockets cost one cheap pass, not 10,000
timers. A client that has sent nothing for ``WEBSOCKET_PING_INTERVAL`` gets a
ping; one that then stays silent for ``WEBSOCKET_PING_TIMEOUT`` is closed with
1011 and its view's ``receive()`` returns None. With ``WEBSOCKET_IDLE_TIMEOUT``,
a client that has sent no *message* (pings and pongs do not count) for that
long is closed with 1000.

Pongs are normally read by the view's own ``receive()``. For a view that is not
waiting in ``receive()`` when its connection is checked (one that only sends,
or is busy), the loop reads what has arrived itself (:meth:`WebSocket.pump`), so
a live client is never taken for dead because its view was busy.
"""

from __future__ import annotations

from .conf import settings
from .connection import CloseCode, open_connections

__all__ = ["check_connections"]


def check_connections(now: float) -> None:
    """Ping, time out or close every connection that is due."""
    interval = settings.WEBSOCKET_PING_INTERVAL
    timeout = settings.WEBSOCKET_PING_TIMEOUT
    idle = settings.WEBSOCKET_IDLE_TIMEOUT
    for ws in list(open_connections):
        if ws.closed:
            continue
        ws.pump()
        if ws.closed:
            continue
        if idle is not None and now - ws.last_message >= idle:
            ws.close(CloseCode.NORMAL_CLOSURE, "idle timeout")
        elif ws.ping_sent_at is not None:
            if timeout is not None and now - ws.ping_sent_at >= timeout:
                ws._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        elif interval is not None and now - ws.last_received >= interval:
            ws.ping()
            ws.ping_sent_at = now
