from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from djws import broadcast
from djws.decorators import websocket


def room_page(request, name):
    return render(request, "chat/room.html", {"name": name})


@websocket
def room(request, ws, name):
    group = f"chat-{name}"
    ws.join(group)  # what is published to the group now goes to this client
    author = request.user.get_username() or "anonymous"
    for text in ws:  # each message the client sends, until it leaves
        if isinstance(text, str) and text.strip():
            broadcast.publish(group, {"author": author, "text": text[:500]})


@require_POST
def announce(request, name):
    # An ordinary view, served by runserver: it reaches the room's sockets too.
    text = request.POST.get("text", "").strip()
    if text:
        broadcast.publish(f"chat-{name}", {"author": "announcement", "text": text[:500]})
    return redirect("room-page", name=name)
