"""A WEBSOCKET_URLCONF with an async view: @websocket refuses it when decorating.

Tests: tests/test_core_mistakes.py (DJWS_TEST_WEBSOCKET_URLCONF).
"""

from django.urls import path

from djws.decorators import websocket


@websocket
async def chat(request, ws):
    async for message in ws:
        await ws.send(message)


urlpatterns = [path("chat/", chat)]
