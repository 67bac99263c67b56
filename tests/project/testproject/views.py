"""WebSocket views the tests talk to."""

import gevent
from django.contrib.auth.decorators import login_required, permission_required
from django.db import connection, transaction
from django.http import HttpResponse

from djws.decorators import websocket

from .models import Note


@websocket
def echo(request, ws):
    for message in ws:
        ws.send(message)


@websocket
def raise_error(request, ws):
    ws.receive()
    raise ValueError("boom from a WebSocket view")


@websocket
def close_with(request, ws, code):
    ws.close(code, request.GET.get("reason", ""))


@websocket
def whoami(request, ws):
    ws.send(request.user.username or "anonymous")
    for _ in ws:
        pass


@login_required
@websocket
def private(request, ws):
    ws.send(f"hello {request.user.username}")


@permission_required("testproject.no_such_permission", raise_exception=True)
@websocket
def forbidden(request, ws):
    ws.send("you should not see this")


@websocket
def session(request, ws):
    ws.send(f"visits={request.session.get('visits')}")
    request.session["from_websocket"] = ws.receive()


@websocket(subprotocols=["chat.v2", "chat.v1"])
def subprotocol(request, ws):
    ws.send(ws.subprotocol or "none")


def plain_view(request):
    return HttpResponse("I am not a WebSocket view")


@websocket
def stamp(request, ws):
    ws.send("stamped" if getattr(request, "stamped_by_middleware", False) else "not stamped")


@websocket
def db_sleep(request, ws):
    """Run SELECT pg_sleep(seconds) for every message; answer with the backend pid."""
    for message in ws:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s), pg_backend_pid()", [float(message)])
            ws.send(str(cursor.fetchone()[1]))


@websocket
def db_write(request, ws):
    """Messages: 'commit TEXT' writes and commits; 'rollback TEXT' writes, waits, rolls back."""
    for message in ws:
        action, text = message.split(" ", 1)
        if action == "commit":
            with transaction.atomic():
                Note.objects.create(text=text)
            ws.send("committed")
        else:
            try:
                with transaction.atomic():
                    Note.objects.create(text=text)
                    ws.send("written")
                    ws.receive()  # wait for the test to say when
                    raise RuntimeError("roll back")
            except RuntimeError:
                ws.send("rolled back")


@websocket
def db_count(request, ws):
    for message in ws:
        ws.send(str(Note.objects.filter(text=message).count()))


@websocket
def db_idle(request, ws):
    """Touch the session (a database query), then wait."""
    ws.send(f"user={request.user.username or 'anonymous'}")
    for _ in ws:
        pass


@websocket
def deliver(request, ws):
    """A background greenlet delivers 'tick N' items; client messages are echoed."""

    def ticker():
        for n in range(3):
            gevent.sleep(0.05)
            ws.deliver(f"tick {n}")

    gevent.spawn(ticker)
    for item in ws:
        ws.send(item if item.startswith("tick") else f"echo {item}")


@websocket
def flood(request, ws, count):
    """Send ``count`` messages of 64 KiB without waiting (as a broadcast would)."""
    from djws.frames import OP_BINARY

    payload = b"x" * 65536
    sent = sum(ws.send_nowait(OP_BINARY, payload) for _ in range(count))
    ws.deliver(f"queued {sent}")
    for _ in ws:
        pass
