"""The WebSocket protocol, without any I/O: what travels on the wire, and in which order.

Read in the order a connection uses them:

1. :mod:`.handshake` -- the opening handshake (RFC 6455, 4.2): validate an upgrade
   request, build the ``101 Switching Protocols`` answer;
2. :mod:`.frames` -- the frame codec: client bytes in, messages out; server frames
   built once, shared by every recipient of a broadcast;
3. :mod:`.protocol` -- one connection's state: ping and pong, the closing
   handshake, failing on a violation, close codes, keepalive decisions.

Nothing here touches a socket, gevent or Django, so all of it is tested with
bytes alone. :mod:`djws.connection` is the thin gevent layer on top.
"""

__all__: list[str] = []
