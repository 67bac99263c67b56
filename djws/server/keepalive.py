"""Keepalive pings, dead-peer detection and the idle timeout, for a whole worker.

One loop per worker visits every open connection once a second, instead of a
timer per connection: 10,000 idle sockets cost one cheap pass, not 10,000
timers. A connection whose view waits in ``receive()`` tells when it is next
due (:attr:`~djws.server.connection.Connection.tick_due`: its next ping, its
ping or idle timeout, its session's or ticket's expiry); until then the pass
only compares two numbers for it. What to do with each connection is the
protocol's decision (:meth:`djws.protocol.protocol.ServerProtocol.tick`): a
client that has sent nothing for ``WEBSOCKET_PING_INTERVAL`` gets a ping; one
that then stays silent for ``WEBSOCKET_PING_TIMEOUT`` is closed with 1011 and
its view's ``receive()`` returns None. With ``WEBSOCKET_IDLE_TIMEOUT``, a
client that has sent no *message* (pings and pongs do not count) for that long
is closed with 1000.

Pongs are normally read by the view's own ``receive()``. For a view that is not
waiting in ``receive()`` when its connection is checked (one that only sends,
or is busy), :meth:`~djws.connection.WebSocket.tick` reads what has arrived
first, so a live client is never taken for dead because its view was busy.
"""

from __future__ import annotations

from ..conf import ServerSettings
from .registry import registry

__all__ = ["check_connections"]


def check_connections(now: float, config: ServerSettings) -> None:
    """Ping, time out or close every open connection that is due."""
    for ws in registry:
        if now < ws.tick_due:
            continue  # its view waits in receive(), and nothing is due yet
        ws.tick(
            now,
            ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout,
            idle_timeout=config.idle_timeout,
        )
