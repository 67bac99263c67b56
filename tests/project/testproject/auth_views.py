"""WebSocket views for clients without a cookie (tests/test_auth_*.py)."""

import os

from django.contrib.auth.decorators import login_required

from djws.decorators import websocket


def _name(obj):
    return None if obj is None else type(obj).__name__


def _whoami(request, ws):
    """Say who the request is and how it was authenticated, as JSON; then echo."""
    ws.send_json(
        {
            "user": request.user.username or None,
            "auth": _name(getattr(request, "auth", None)),
            "authenticator": _name(getattr(request, "successful_authenticator", None)),
            "session": request.session.session_key,
            "subprotocol": ws.subprotocol,
            "offered": list(ws.offered_subprotocols),
            "ws": type(ws).__name__,
            "pid": os.getpid(),
        }
    )
    for message in ws:
        ws.send(message)


@websocket
def whoami(request, ws):
    _whoami(request, ws)


@websocket(subprotocols=["chat.v2", "chat.v1"])
def chat(request, ws):
    _whoami(request, ws)


@login_required
@websocket
def private(request, ws):
    _whoami(request, ws)


@websocket(auto_accept=False)
def broken(request, ws):
    raise RuntimeError("broken before accepting")


@websocket
def credentials(request, ws, username):
    """Send a ticket and a DRF token for ``username`` (tests without an HTTP server)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from djws.auth import issue_ticket

    user, _ = get_user_model().objects.get_or_create(username=username)
    token = Token.objects.get_or_create(user=user)[0].key
    ws.send_json({"ticket": issue_ticket(user), "token": token})


@websocket
def sender(request, ws):
    """Send "tick" twice a second and never receive (a refresh goes unanswered)."""
    import gevent

    while True:
        ws.send("tick")
        gevent.sleep(0.5)
