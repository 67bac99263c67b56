"""Pages of the playground: ordinary Django views rendering templates.

The WebSocket URLs in the pages come from ``{% websocket_url %}``, so the same
templates work whether the page came from ``runserver`` (WebSockets on port
8001) or from ``runwebsocket --http`` (one port for everything).
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from djws.contrib.chat.views import DEFAULT_ROOM

__all__ = ["chat", "echo", "index", "ping"]


def index(request: HttpRequest) -> HttpResponse:
    """The home page: what is here, and how this page was served."""
    same_origin = bool(request.META.get("djws.server"))
    return render(request, "playground/index.html", {"same_origin": same_origin})


def chat(request: HttpRequest, room: str = DEFAULT_ROOM) -> HttpResponse:
    """A chat room: pick a name and a colour, talk to every other window in the room."""
    return render(request, "playground/chat.html", {"room": room})


def echo(request: HttpRequest) -> HttpResponse:
    """The echo server's page: everything sent comes back."""
    return render(request, "playground/echo.html")


def ping(request: HttpRequest) -> HttpResponse:
    """The ping server's page: ping gets pong, pong gets ping, the rest nothing."""
    return render(request, "playground/ping.html")
