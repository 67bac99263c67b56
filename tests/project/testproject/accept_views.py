"""WebSocket views that accept or refuse themselves: @websocket(auto_accept=False).

Tests: tests/test_core_accept.py.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound

from djws import db
from djws.decorators import websocket

from .views import _broadcast_command

PLAIN = "text/plain; charset=utf-8"


@websocket(auto_accept=False)
def chosen(request, ws):
    """Accept the client's last offer, with a header listing what it offered."""
    offered = list(ws.offered_subprotocols)
    ws.accept(offered[-1] if offered else None, headers=[("X-Offered", ", ".join(offered))])
    ws.send(f"accepted {ws.subprotocol}")


@websocket(auto_accept=False)
def room(request, ws, name):
    """Only the lobby exists, and only with the key: refusals are the view's own."""
    if name != "lobby":
        return HttpResponseNotFound(f"There is no room {name!r}.\n", content_type=PLAIN)
    if request.GET.get("key") != "sesame":
        return HttpResponseForbidden("Members only.\n", content_type=PLAIN)
    ws.accept()
    ws.send(f"welcome to the {name}")
    return None


@websocket(auto_accept=False)
def denied(request, ws):
    raise PermissionDenied


@websocket(auto_accept=False)
def early_send(request, ws):
    ws.send("before accepting")


@websocket(auto_accept=False)
def forgot(request, ws):
    request.session.get("anything")


@websocket(auto_accept=False)
def late_response(request, ws):
    ws.accept()
    return HttpResponse("too late")


@websocket(auto_accept=False)
def member(request, ws, group):
    """Query before accepting; after it, report the database and join ``group``."""
    user = request.user.username or "anonymous"  # a session query, before the 101
    ws.accept()
    ws.send_json({"user": user, "holding_db": db.connections_in_use()})
    ws.join(group)
    ws.send("joined")
    for message in ws:
        _broadcast_command(ws, group, message)
