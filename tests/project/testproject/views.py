"""WebSocket views the tests talk to."""

import json
import os

import gevent
from django.contrib.auth.decorators import login_required, permission_required
from django.db import connection, transaction
from django.http import HttpResponse

from djws.decorators import event_stream, websocket

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


@websocket
def headers(request, ws):
    """Send the request's headers as Django sees them (request.headers), as JSON."""
    ws.send(json.dumps(dict(request.headers)))
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
def db_resilient(request, ws):
    """Like db_sleep, but a database error is answered as 'error NAME', and the view goes on."""
    from django.db import DatabaseError

    for message in ws:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(%s), pg_backend_pid()", [float(message)])
                ws.send(str(cursor.fetchone()[1]))
        except DatabaseError as exc:
            ws.send(f"error {type(exc).__name__}")


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
    from djws.protocol.frames import OP_BINARY

    payload = b"x" * 65536
    sent = sum(ws.send_nowait(OP_BINARY, payload) for _ in range(count))
    ws.deliver(f"queued {sent}")
    for _ in ws:
        pass


def broken_before_accept(request):
    """A view that fails before any WebSocket exists: Django's 500 must reach the client."""
    raise RuntimeError("failed before accept")


# Protocol tests (tests/test_protocol_*.py)


@websocket
def protocol_stats(request, ws):
    """Report this worker's open WebSockets (this one included) and live greenlets."""
    import gc

    from greenlet import greenlet

    from djws.server.registry import registry

    gc.collect()
    # type(), not isinstance(): isinstance() would set up lazy objects (admin.site,
    # which Django REST framework's views import) that cannot be set up here.
    greenlets = sum(
        1 for obj in gc.get_objects() if issubclass(type(obj), greenlet) and not obj.dead
    )
    ws.send_json({"open": len(registry), "greenlets": greenlets})


@websocket(allowed_origins=["https://app.example.com"])
def origin_override(request, ws):
    ws.send("welcome")


@websocket(compression=False)
def echo_uncompressed(request, ws):
    for message in ws:
        ws.send(message)


# Broadcast tests (tests/test_broadcast_*.py)


def _broadcast_command(ws, group, message):
    """Run one test command sent by the client; answer errors as 'error NAME: text'."""
    import json

    from djws import broadcast

    command, _, argument = message.partition(" ")
    try:
        if command == "publish":
            broadcast.publish(group, argument)
        elif command == "publish-position-to":
            target, _, text = argument.partition(" ")
            ws.send(f"position {broadcast.publish(target, text)}")
        elif command == "publish-json":
            broadcast.publish(group, json.loads(argument))
        elif command == "publish-bytes":
            broadcast.publish(group, argument.encode())
        elif command == "publish-pattern":
            size = int(argument)
            broadcast.publish(group, bytes(n % 256 for n in range(size)))
        elif command == "publish-many":
            count, size = map(int, argument.split())
            for n in range(count):
                broadcast.publish(group, f"{n:06d}".ljust(size, "."))
            ws.send(f"published {count}")
        elif command == "to-user":
            pk, _, text = argument.partition(" ")
            broadcast.send_to_user(int(pk), text)
        elif command == "to-session":
            key, _, text = argument.partition(" ")
            broadcast.send_to_session(key, text)
        elif command in ("close-user", "close-session", "close-group"):
            target, code, reason = argument.split(" ", 2)
            close = getattr(broadcast, command.replace("-", "_"))
            ws.send(f"closed at {close(target, code=int(code), reason=reason)}")
        elif command == "presence":
            ws.send_json({"presence": broadcast.presence(argument or group)})
        elif command == "join":
            ws.join(argument)
            ws.send(f"joined {argument}")
        elif command == "leave":
            ws.leave(argument or group)
            ws.send(f"left {argument or group}")
        elif command == "groups":
            ws.send_json({"groups": sorted(ws.groups)})
        elif command == "pid":
            ws.send(str(os.getpid()))
        elif command.startswith("tx-"):
            _transaction_command(ws, group, command, argument)
        elif command == "history":
            found = broadcast.history(group, argument or None)
            ws.send_json(
                {
                    "position": str(found.position),
                    "complete": found.complete,
                    "messages": [[str(m.position), m.data] for m in found.messages],
                }
            )
        else:
            ws.send(f"unknown command {command!r}")
    except (broadcast.BroadcastError, ValueError) as exc:
        ws.send(f"error {type(exc).__name__}: {exc}")


class _RolledBackError(Exception):
    pass


def _transaction_command(ws, group, command, argument):
    """Publish inside transaction.atomic() (tests/test_broadcast_commit.py), writing a Note too.

    tx-commit TEXT, tx-rollback TEXT, tx-savepoint KEPT DROPPED (DROPPED in a
    savepoint that rolls back), tx-hold TEXT (commits when the client sends
    its next message), tx-other TEXT (in a transaction of the second database),
    tx-targets PK SESSION TEXT (send_to_user and send_to_session, rolled back).
    Answers what became of the transaction.
    """
    from djws import broadcast

    if command == "tx-commit":
        with transaction.atomic():
            Note.objects.create(text=argument)
            returned = broadcast.publish(group, argument)
        ws.send(f"committed {returned}")
    elif command == "tx-rollback":
        try:
            with transaction.atomic():
                Note.objects.create(text=argument)
                broadcast.publish(group, argument)
                raise _RolledBackError
        except _RolledBackError:
            ws.send("rolled back")
    elif command == "tx-savepoint":
        kept, dropped = argument.split()
        with transaction.atomic():
            Note.objects.create(text=kept)
            broadcast.publish(group, kept)
            try:
                with transaction.atomic():
                    Note.objects.create(text=dropped)
                    broadcast.publish(group, dropped)
                    raise _RolledBackError
            except _RolledBackError:
                pass
        ws.send("committed")
    elif command == "tx-hold":
        with transaction.atomic():
            Note.objects.create(text=argument)
            broadcast.publish(group, argument)
            ws.send("holding")
            ws.receive()
        ws.send("committed")
    elif command == "tx-other":
        # The second database (DJWS_TEST_SECOND_DATABASE=1): only using="other" waits for it.
        with transaction.atomic(using="other"):
            broadcast.publish(group, f"at once {argument}")
            broadcast.publish(group, argument, using="other")
            ws.send("holding")
            ws.receive()
        ws.send("committed")
    elif command == "tx-targets":
        pk, session, text = argument.split(" ", 2)
        try:
            with transaction.atomic():
                broadcast.send_to_user(int(pk), text)
                broadcast.send_to_session(session, text)
                raise _RolledBackError
        except _RolledBackError:
            ws.send("rolled back")
    else:
        ws.send(f"unknown command {command!r}")


@websocket
def broadcast_member(request, ws, group):
    """Join ``group`` (forwarded to the client), say 'joined', then run commands."""
    ws.join(group)
    ws.send("joined")
    for message in ws:
        _broadcast_command(ws, group, message)


@websocket
def broadcast_relay(request, ws, group):
    """Join ``group`` with forward=False; transform its messages before sending them."""
    from djws import broadcast

    ws.join(group, forward=False)
    ws.send("joined")
    for item in ws:
        if isinstance(item, broadcast.GroupReset):
            ws.send(f"reset {item.group} {item.position}")
        elif isinstance(item, broadcast.GroupMessage) and request.GET.get("forward"):
            ws.forward(item)
        elif isinstance(item, broadcast.GroupMessage):
            if item.kind == "json":
                ws.send_json({"relayed": item.data, "group": item.group})
            elif item.kind == "binary":
                ws.send(b"relayed " + item.data)
            else:
                ws.send(f"relayed {item.group}: {item.data.upper()}")
        else:
            _broadcast_command(ws, group, item)


@websocket
def broadcast_identity(request, ws):
    """Say who this connection belongs to (user pk, session key), then run commands."""
    ws.send_json({"user": request.user.pk, "session": request.session.session_key})
    for message in ws:
        _broadcast_command(ws, "identity", message)


@websocket
def protocol_ticker(request, ws):
    """Send 'tick N' every 0.2 s for 5 s without ever calling receive()."""
    for n in range(25):
        ws.send(f"tick {n}")
        gevent.sleep(0.2)


# Memory tests (tests/test_memory.py): is a finished connection freed without the
# cyclic garbage collector?

#: name -> weak reference, for the objects of the last tracked connection.
TRACKED: dict = {}


@websocket
def tracked_echo(request, ws):
    """Echo, after turning the collector off and taking weak references to the
    objects of this connection: what must be freed by reference counting alone."""
    import gc
    import weakref

    from djws.broadcast.hub import hub
    from djws.server.handler import WebSocketHandler

    gc.disable()
    TRACKED.clear()
    handlers = [o for o in gc.get_referrers(request.META) if isinstance(o, WebSocketHandler)]
    objects = {
        "connection": ws,
        "request": request,
        "upgrade": request.websocket_upgrade,
        "protocol": ws._protocol,
        "transport": ws._transport,
        "parser": ws._protocol.parser,
        "member": hub.members[ws],
        "session": getattr(request, "session", None),
        "user": getattr(request, "user", None),
        "handler": handlers[0] if handlers else None,
    }
    if ws._protocol.deflate is not None:
        objects["deflate"] = ws._protocol.deflate
    for name, obj in objects.items():
        if obj is not None:
            TRACKED[name] = weakref.ref(obj)
    ws.join("tracked")
    for message in ws:
        ws.send(message)


@websocket
def gc_report(request, ws):
    """Report which tracked objects are still alive, then turn the collector back on."""
    import gc
    import time

    deadline = time.monotonic() + 2
    while any(ref() is not None for ref in TRACKED.values()) and time.monotonic() < deadline:
        time.sleep(0.05)  # patched: lets the finished connection's greenlet end
    alive = sorted(name for name, ref in TRACKED.items() if ref() is not None)
    tracked = sorted(TRACKED)
    gc.enable()
    ws.send_json({"alive": alive, "tracked": tracked})


@websocket
def memory_stacks(request, ws):
    """Send the C stack bytes saved by the greenlets of the other open connections."""
    import gevent

    from djws.server.registry import registry

    gevent.sleep(0.1)  # let the others wait
    others = [c for c in registry if c is not ws and not c.closed]
    ws.send(" ".join(str(c._owner._stack_saved) for c in others))


# Collector pauses (bench/churn.py pauses): how long does each collection take?

#: [generation, seconds] of the collections timed since /memory/gc/start/.
GC_PAUSES: list = []


def _gc_timer(phase, info, _started=[0.0, 0.0]):  # noqa: B006 - the callback's own clock
    import time

    if phase == "start":
        _started[:] = [time.perf_counter(), time.thread_time()]
    else:
        wall = time.perf_counter() - _started[0]
        cpu = time.thread_time() - _started[1]
        GC_PAUSES.append([info["generation"], wall, cpu])


@websocket
def gc_timing_start(request, ws):
    """Time every collection from now on; ``?thresholds=A,B,C`` and ``?unfreeze=1``
    change the worker's collector settings first."""
    import gc

    if request.GET.get("unfreeze"):
        gc.unfreeze()
    if request.GET.get("thresholds"):
        gc.set_threshold(*map(int, request.GET["thresholds"].split(",")))
    GC_PAUSES.clear()
    if _gc_timer not in gc.callbacks:
        gc.callbacks.append(_gc_timer)
    ws.send_json({"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()})


@websocket
def gc_timing_report(request, ws):
    """Report the collections timed since the last report (``?collect=1``: and time a
    full one now), with the number of objects the collector tracks."""
    import gc
    import time

    pauses = list(GC_PAUSES)
    GC_PAUSES.clear()
    report = {
        "collections": [sum(1 for p in pauses if p[0] == n) for n in range(3)],
        "max_ms": [
            round(max([p[1] for p in pauses if p[0] == n] or [0.0]) * 1000, 2) for n in range(3)
        ],
        "max_cpu_ms": [
            round(max([p[2] for p in pauses if p[0] == n] or [0.0]) * 1000, 2) for n in range(3)
        ],
        "tracked": len(gc.get_objects()),
        "frozen": gc.get_freeze_count(),
        "thresholds": gc.get_threshold(),
    }
    if request.GET.get("collect"):
        started, cpu = time.perf_counter(), time.thread_time()
        gc.collect()
        report["full_collection_ms"] = round((time.perf_counter() - started) * 1000, 2)
        report["full_collection_cpu_ms"] = round((time.thread_time() - cpu) * 1000, 2)
        GC_PAUSES.clear()
    ws.send_json(report)


# Idle memory (bench/churn.py idle): where do the bytes of an idle connection go?

#: The tracemalloc snapshot taken by /memory/snapshot/?take=1.
SNAPSHOTS: list = []


@websocket
def memory_snapshot(request, ws):
    """``?take=1``: remember a tracemalloc snapshot. Otherwise report the biggest
    differences since it (``?group=lineno|traceback``, ``?top=N``) and the C stacks
    greenlets saved (the server must run with PYTHONTRACEMALLOC=N)."""
    import gc
    import tracemalloc

    from greenlet import greenlet

    gc.collect()
    if request.GET.get("who"):  # who keeps the instances of the class ?who=NAME alive
        name = request.GET["who"]
        found = [o for o in gc.get_objects() if type(o).__name__ == name]
        chains = []
        for obj in found[:3]:
            chain, current = [], obj
            for _ in range(6):
                referrers = [
                    r for r in gc.get_referrers(current) if r is not found and type(r) is not list
                ]
                if not referrers:
                    break
                current = referrers[0]
                keys = list(current)[:8] if isinstance(current, dict) else ""
                chain.append(f"{type(current).__name__} {keys}")
            chains.append(chain)
        ws.send_json({"count": len(found), "chains": chains})
        return
    if request.GET.get("attrs"):  # the attributes of one live instance of ?attrs=NAME
        import sys

        name = request.GET["attrs"]
        obj = next(o for o in gc.get_objects() if type(o).__name__ == name and o is not request)
        attrs = getattr(obj, "__dict__", {})
        ws.send_json(
            {
                "dict": sys.getsizeof(attrs),
                "attrs": {k: [type(v).__name__, sys.getsizeof(v)] for k, v in attrs.items()},
            }
        )
        return
    if request.GET.get("allocated"):  # objects allocated at ?allocated=FILE_SUFFIX:LINE
        suffix, line = request.GET["allocated"].rsplit(":", 1)
        found = []
        for obj in gc.get_objects():
            tb = tracemalloc.get_object_traceback(obj)
            if tb and tb[-1].filename.endswith(suffix) and tb[-1].lineno == int(line):
                referrers = [type(r).__name__ for r in gc.get_referrers(obj)][:4]
                found.append(f"{type(obj).__name__} {str(obj)[:80]} <- {referrers}")
        ws.send_json({"count": len(found), "examples": found[:8]})
        return
    if request.GET.get("take"):
        SNAPSHOTS[:] = [tracemalloc.take_snapshot()]
        ws.send_json({"taken": True})
        return
    snapshot = tracemalloc.take_snapshot()
    group = request.GET.get("group", "lineno")
    top = int(request.GET.get("top", "30"))
    stats = snapshot.compare_to(SNAPSHOTS[0], group) if SNAPSHOTS else []
    live = [g for g in gc.get_objects() if issubclass(type(g), greenlet) and not g.dead]
    stacks = sorted(g._stack_saved for g in live)
    frames = []
    deepest = max(live, key=lambda g: g._stack_saved)
    frame = deepest.gr_frame
    frame_bytes = 0  # what the frames take in the greenlet's data stack (CPython 3.11)
    while frame is not None:
        code = frame.f_code
        frames.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{code.co_name}")
        slots = len(code.co_varnames) + len(code.co_cellvars) + len(code.co_freevars)
        frame_bytes += (slots + code.co_stacksize + 9) * 8
        frame = frame.f_back
    ws.send_json(
        {
            "diff": [
                {
                    "size": stat.size_diff,
                    "count": stat.count_diff,
                    "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback][-12:],
                }
                for stat in stats[:top]
            ],
            "total": sum(stat.size_diff for stat in stats),
            "greenlets": len(stacks),
            "stack_saved_median": stacks[len(stacks) // 2] if stacks else 0,
            "stack_saved_total": sum(stacks),
            "deepest_frames": frames,
            "deepest_frame_bytes": frame_bytes,
        }
    )


# Server-Sent Events (tests/test_eventstream.py)


@event_stream
def events(request, stream, group):
    """Stream ``group`` (and a second group, with ``?also=``)."""
    stream.join(group)
    if request.GET.get("also"):
        stream.join(request.GET["also"])


@login_required
@event_stream
def private_events(request, stream):
    stream.join(f"private-{request.user.pk}")


@websocket
def joiner(request, ws):
    """Join the group each message names; answer 'groups N' to 'count'."""
    for message in ws:
        if message == "count":
            ws.send(f"groups {len(ws.groups)}")
        else:
            ws.join(message)


@websocket(limits={"messages_per_second": 5, "message_burst": 5})
def echo_five_a_second(request, ws):
    """Echo, with this view's own message rate: 5 a second, 5 at once."""
    for message in ws:
        ws.send(message)
