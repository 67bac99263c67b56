"""The WebSocket protocol, without any I/O: what travels on the wire, and in which order.

Read in the order a connection uses them:

1. :mod:`.handshake` -- the opening handshake (RFC 6455, 4.2): validate an upgrade
   request, build the ``101 Switching Protocols`` answer;
2. :mod:`.parser` -- client bytes in, messages and control events out;
3. :mod:`.frames` -- the frames the server writes, built once and shared by
   every recipient of a broadcast;
4. :mod:`.protocol` -- one connection's state: ping and pong, the closing
   handshake, failing on a violation, close codes, keepalive decisions;
5. :mod:`.http` -- the HTTP answers a refused handshake gets, as bytes;
6. :mod:`.credentials` -- tickets and tokens a client presents in the handshake,
   and keeping them out of logs.

Nothing here touches a socket, gevent or Django: each module is tested with
bytes alone (``tests/test_protocol_*.py``), and through real servers too.
:mod:`djws.server.connection` is the thin gevent layer on top.
"""

__all__: list[str] = []
