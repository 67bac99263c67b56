"""Test WebSocket views from your own test suite, as you test HTTP views.

:class:`WebSocketClient` is Django's test :class:`~django.test.Client` that can
also open WebSockets::

    from django.test import TestCase
    from djws.test import WebSocketClient

    class ChatTests(TestCase):
        client_class = WebSocketClient

        def test_echo(self):
            self.client.force_login(self.user)
            with self.client.connect("/echo/") as ws:
                ws.send("hello")
                self.assertEqual(ws.receive(), "hello")
            self.assertEqual(ws.close_code, 1000)

How it works, and why it can see your test's rows: the server half of each
connection runs *in the test's own thread*. djws's real
:class:`~djws.server.handler.WebSocketHandler` (HTTP parsing, handshake validation,
the deferred 101) and :class:`~djws.dispatcher.WebSocketDispatcher` (the
project's middleware, ``WEBSOCKET_URLCONF``, your ``@websocket`` view) run in a
gevent greenlet on one end of a socket pair; the client speaks real WebSocket
frames on the other end (the ``websockets`` library's sans-I/O client).

Nothing is monkey-patched. gevent's own sockets and hub cooperate without the
patch, and in an unpatched process Django keeps one database connection per
*thread*, which the view's greenlet therefore shares with the test. So inside
``TestCase``'s transaction the view sees the rows the test created, and the test
sees the rows the view wrote; with ``TransactionTestCase`` both commit to the
same test database.

The servers refuse to run unpatched (:func:`djws.server.patching.ensure_patched`),
because there thousands of greenlets would trample one shared connection. Here
that check is bypassed on purpose -- the dispatcher is called directly, not
through :class:`~djws.wsgi.WebSocketRouter` -- and sharing is safe: there is one
thread, and the view's greenlet runs only while the test waits on its socket
(``receive()``, ``close()``, ``wait_closed()``...), never at the same time as
test code. Keepalive pings do not run in tests.

The package, one job a module: :mod:`.client` (:class:`WebSocketClient`),
:mod:`.connection` (the client half of a connection, :class:`TestWebSocket`),
:mod:`.eventstream` (the client half of an event stream,
:class:`TestEventStream`), :mod:`.server` (the in-process server half),
:mod:`.capture` (:func:`capture_broadcasts`) and :mod:`.waiting` (why a wait
timed out: a publish waiting for a commit).
"""

from .capture import Broadcast, capture_broadcasts
from .client import WebSocketClient
from .connection import HandshakeRefused, TestWebSocket
from .eventstream import Event, EventStreamRefused, TestEventStream

__all__ = [
    "Broadcast",
    "Event",
    "EventStreamRefused",
    "HandshakeRefused",
    "TestEventStream",
    "TestWebSocket",
    "WebSocketClient",
    "capture_broadcasts",
]
