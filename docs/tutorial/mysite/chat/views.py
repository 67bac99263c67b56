from django.shortcuts import render

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
