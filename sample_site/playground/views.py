"""Pages of the playground: ordinary Django views rendering templates.

The WebSocket URLs in the pages come from ``{% websocket_url %}``, so the same
templates work whether the page came from ``runserver`` (WebSockets on port
8001) or from ``runwebsocket --http`` (one port for everything).

The limits a page checks before sending come from where the server reads them
(``WEBSOCKET_MAX_MESSAGE_SIZE``, the chat form's field lengths), rendered into
the page as data attributes: they are never written twice.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from djws.conf import settings as djws_settings
from djws.contrib.chat.forms import ChatMessageForm
from djws.contrib.chat.views import DEFAULT_ROOM

__all__ = ["chat", "echo", "index", "limits", "ping"]


def limits() -> dict[str, Any]:
    """Return what the WebSocket server accepts, for the pages to check before sending."""
    fields = ChatMessageForm.base_fields
    return {
        # None when the server has no limit: the page then checks nothing.
        "max_message_size": djws_settings.WEBSOCKET_MAX_MESSAGE_SIZE,
        "name_max_length": getattr(fields["name"], "max_length", None),
        "text_max_length": getattr(fields["text"], "max_length", None),
    }


def index(request: HttpRequest) -> HttpResponse:
    """The home page: what is here, and how this page was served."""
    same_origin = bool(request.META.get("djws.server"))
    return render(request, "playground/index.html", {"same_origin": same_origin})


def chat(request: HttpRequest, room: str = DEFAULT_ROOM) -> HttpResponse:
    """A chat room: pick a name and a colour, talk to every other window in the room."""
    return render(request, "playground/chat.html", {"room": room, **limits()})


def echo(request: HttpRequest) -> HttpResponse:
    """The echo server's page: everything sent comes back."""
    return render(request, "playground/echo.html", limits())


def ping(request: HttpRequest) -> HttpResponse:
    """The ping server's page: ping gets pong, pong gets ping, the rest nothing."""
    return render(request, "playground/ping.html", limits())
