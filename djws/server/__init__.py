"""The server side: from a TCP connection to a Django request, on gunicorn and gevent.

Read in the order a connection travels through them:

1. :mod:`.bootstrap` -- ``python -m djws.server.bootstrap``: the process entry
   point that ``runwebsocket`` execs; gevent's patch comes first;
2. :mod:`.app` -- gunicorn's arbiter, embedded, serving djws's WSGI application
   with the worker :class:`djws.worker.WebSocketWorker`;
3. :mod:`.handler` -- per connection: reads the request, refuses malformed
   upgrades before Django runs, hands valid ones to Django;
4. :mod:`.handoff` -- the :class:`~.handoff.Upgrade` that crosses into Django,
   and the one step (``commit``) that writes the 101 and hands the socket over;
5. :mod:`.transport` -- the accepted socket's non-blocking reads and bounded writes;
6. :mod:`.registry` -- the open connections of the process, and whether it stops;
7. :mod:`.keepalive` -- the worker's once-a-second pass over them.

This package is imported by ``python -m djws.server.bootstrap`` before gevent
patches the process, so this module imports nothing.
"""

__all__: list[str] = []
