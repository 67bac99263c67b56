"""A project test using djws.test while "djws" is missing from INSTALLED_APPS.

Run by tests/test_core_mistakes.py with ``manage.py test`` and
DJWS_TEST_WITHOUT_DJWS=1; not a test of djws's own suite (pytest does not
collect this name).
"""

from django.test import SimpleTestCase

from djws.test import WebSocketClient


class EchoTests(SimpleTestCase):
    client_class = WebSocketClient

    def test_echo(self):
        with self.client.connect("/echo/") as ws:
            ws.send("hello")
