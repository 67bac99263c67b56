"""Broadcast's pure logic: the wire format, group names, URLs, NOTIFY payloads,
and the two PostgreSQL drivers' LISTEN/NOTIFY calls against the real server."""

from __future__ import annotations

import datetime
import decimal
import json
import select
import threading
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from djws.broadcast import GroupMessage
from djws.broadcast.backends import backend_path
from djws.broadcast.backends.base import redact
from djws.broadcast.backends.listening import ListeningBackend, PresenceBatch
from djws.broadcast.backends.postgres import (
    NOTIFY_LIMIT,
    PostgresBackend,
    decode_payload,
    encode_payload,
)
from djws.broadcast.backends.postgres_driver import Driver
from djws.broadcast.exceptions import PresenceError
from djws.broadcast.members import ClientOptions, client_options
from djws.broadcast.message import check_wire, encode, opcode_of, split_target, with_target
from djws.broadcast.names import check_group, session_group, user_group
from djws.broadcast.position import Entry, Position, Slice
from djws.protocol.frames import OP_BINARY, OP_TEXT

from .support import wait_for

pytestmark = pytest.mark.fast


def test_public_names() -> None:
    import djws.broadcast

    assert sorted(djws.broadcast.__all__) == [
        "BroadcastError",
        "GroupMessage",
        "GroupReset",
        "History",
        "HistoryError",
        "Joined",
        "Position",
        "PresenceError",
        "PublishError",
        "close_group",
        "close_session",
        "close_user",
        "history",
        "presence",
        "publish",
        "send_to_session",
        "send_to_user",
    ]
    for name in djws.broadcast.__all__:
        assert getattr(djws.broadcast, name).__module__.startswith("djws.broadcast")


def test_str_is_text_bytes_is_binary_anything_else_is_json() -> None:
    assert encode("héllo") == b"th\xc3\xa9llo"
    assert encode(b"\x00\xff") == b"b\x00\xff"
    assert encode(bytearray(b"ab")) == b"bab"
    assert encode({"a": [1, None]}) == b'j{"a": [1, null]}'
    assert encode(None) == b"jnull"
    assert (opcode_of(encode("x")), opcode_of(encode(b"x")), opcode_of(encode(1))) == (
        OP_TEXT,
        OP_BINARY,
        OP_TEXT,
    )


def test_json_uses_djangos_encoder() -> None:
    value = {
        "when": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
        "price": decimal.Decimal("1.50"),
        "id": uuid.UUID(int=1),
    }
    assert encode(value) == (
        b'j{"when": "2024-05-06T07:08:09Z", "price": "1.50", '
        b'"id": "00000000-0000-0000-0000-000000000001"}'
    )


def test_unencodable_objects_are_refused_with_a_useful_message() -> None:
    with pytest.raises(TypeError, match=r"^cannot publish object: send str, bytes, or an object"):
        encode(object())


def test_check_wire_knows_the_three_kinds() -> None:
    for wire in (b"tx", b"b", b"j1"):
        check_wire(wire)
    with pytest.raises(ValueError, match="not a djws broadcast message"):
        check_wire(b"x123")


def test_envelopes_round_trip_any_target() -> None:
    for target in ("djws.user.42", "djws.session.a:b:c", "déjà"):
        assert split_target(with_target(target, b"thello")) == (target, b"thello")
    assert with_target("djws.user.7", b"tx") == b"11:djws.user.7tx"


def test_group_message_gives_data_and_raw_by_kind() -> None:
    text = GroupMessage("g", b"th\xc3\xa9")
    binary = GroupMessage("g", b"b\x00\x01")
    data = GroupMessage("g", b'j{"a": [1]}')
    assert (text.kind, text.data, text.raw) == ("text", "hé", "hé")
    assert (binary.kind, binary.data, binary.raw) == ("binary", b"\x00\x01", b"\x00\x01")
    assert (data.kind, data.data, data.raw) == ("json", {"a": [1]}, '{"a": [1]}')
    first = data.data
    first["a"].append(2)
    assert data.data == {"a": [1]}  # each access decodes a fresh copy


def test_group_names() -> None:
    check_group("room-1")
    check_group("djws.user.1")  # publishing to it is allowed (it is send_to_user)
    with pytest.raises(ValueError, match=r"^group names starting with 'djws\.' are reserved"):
        check_group("djws.user.1", joining=True)
    with pytest.raises(ValueError, match="a group name is a non-empty str, not ''"):
        check_group("")
    with pytest.raises(ValueError, match="a group name is a non-empty str, not 42"):
        check_group(42)
    with pytest.raises(ValueError, match="a group name is at most 256 characters"):
        check_group("x" * 257)
    assert (user_group(7), session_group("abc")) == ("djws.user.7", "djws.session.abc")


def test_backend_urls() -> None:
    assert backend_path("local://").endswith("local.LocalBackend")
    assert backend_path("memory://").endswith("memory.MemoryBackend")
    for url in ("redis://h:6379/0", "rediss://h", "unix:///tmp/redis.sock"):
        assert backend_path(url).endswith("redis.RedisBackend")
    for url in ("postgresql://h/db", "postgres://h/db", "database://default"):
        assert backend_path(url).endswith("postgres.PostgresBackend")
    with pytest.raises(ImproperlyConfigured, match="must be a URL such as 'local://'"):
        backend_path("redis")
    with pytest.raises(
        ImproperlyConfigured, match=r"unknown scheme 'amqp' \(known: local://, memory://"
    ):
        backend_path("amqp://localhost")


def test_passwords_are_redacted_from_urls() -> None:
    assert redact("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("postgresql://user:pw@db/x") == "postgresql://user:***@db/x"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"


def test_notify_payloads_inline_up_to_the_limit_then_by_reference() -> None:
    assert encode_payload(b"thello") == "uthello"
    assert decode_payload("uthello") == b"thello"
    fits = b"t" + b"x" * (NOTIFY_LIMIT - 2)
    assert encode_payload(fits) == "u" + fits.decode()
    assert len(encode_payload(fits).encode()) == NOTIFY_LIMIT
    assert encode_payload(fits + b"x") is None
    assert encode_payload(b"t\xc3\xa9" * 4000) is None  # counted in bytes, not characters
    for wire in (b"b\xff\xfe", b"t\x00nul"):  # not UTF-8; NUL, which text cannot hold
        payload = encode_payload(wire)
        assert payload is not None
        assert payload.startswith("b")
        assert decode_payload(payload) == wire
    assert encode_payload(b"b" + b"\xff" * 6000) is None  # too large once in base64
    assert decode_payload("@") is None  # too large: read from the history by its offset
    with pytest.raises(ValueError, match="not a djws notification"):
        decode_payload("zzz")


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["psycopg", "psycopg2"])
def test_both_drivers_listen_and_receive(name: str) -> None:
    driver = Driver(name)
    assert driver.module.__name__ == name
    listener = driver.connect("postgresql://postgres@127.0.0.1:5432/test")
    sender = driver.connect("postgresql://postgres@127.0.0.1:5432/test")
    channel = f"djws_unit_{uuid.uuid4().hex}"
    try:
        driver.execute(listener, f'LISTEN "{channel}"')
        assert driver.notifies(listener) == []
        driver.execute(sender, "SELECT pg_notify(%s, %s)", [channel, "uone"])
        driver.execute(sender, "SELECT pg_notify(%s, %s)", [channel, "utwo"])
        assert driver.execute(listener, "SELECT 1") == [(1,)]  # notifications arrive meanwhile
        assert driver.notifies(listener) == [(channel, "uone"), (channel, "utwo")]
    finally:
        driver.close(listener)
        driver.close(sender)


class Recorder:
    """A receiver that records what a backend delivers."""

    worker_id = "unit"

    def __init__(self) -> None:
        self.received: list[tuple[int, bytes]] = []

    def receive(
        self, group: str, position: Position, wire: bytes, published_at: float | None = None
    ) -> None:
        self.received.append((position.offset, wire))


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["psycopg", "psycopg2"])
def test_notifications_arriving_while_a_large_message_is_read_are_delivered_at_once(
    name: str,
) -> None:
    """The driver buffers them off the socket: the listener must not wait for the socket."""
    url = "postgresql://postgres@127.0.0.1:5432/test"
    backend = PostgresBackend(url, prefix=f"unit{uuid.uuid4().hex[:8]}", presence_ttl=30)
    backend._driver = driver = Driver(name)
    recorder = Recorder()
    backend.start_serving(recorder)  # type: ignore[arg-type]
    listener, locker, sender = (driver.connect(url) for _ in range(3))
    listener_pid = driver.execute(listener, "SELECT pg_backend_pid()")[0][0]
    channel = backend._channel("big")
    backend._channels[channel] = "big"
    large = b"x" * (NOTIFY_LIMIT * 2)
    failures: list[BaseException] = []

    def listener_waits_on_a_lock() -> bool:
        sql = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)"
        return bool(driver.execute(sender, sql, [listener_pid])[0][0])

    def notify_then_unlock() -> None:
        try:
            wait_for(listener_waits_on_a_lock, 10, "the listener waiting on the locked table")
            # Committed when execute() returns (autocommit): queued for the listener, which
            # gets it with the answer to the read that the lock holds up.
            driver.execute(sender, "SELECT pg_notify(%s, %s)", [channel, f"{epoch}:2:0:usmall"])
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            failures.append(exc)
        finally:
            driver.execute(locker, "COMMIT")  # never leave the listener blocked

    def in_the_listeners_socket() -> bool:
        return bool(select.select([listener.fileno()], [], [], 0)[0])

    try:
        driver.execute(listener, f'LISTEN "{channel}"')
        epoch = backend.publish("big", large).epoch
        wait_for(in_the_listeners_socket, 10, "the large message's notification arriving")
        driver.execute(locker, "BEGIN")
        driver.execute(locker, "LOCK TABLE djws_broadcast_history IN ACCESS EXCLUSIVE MODE")
        thread = threading.Thread(target=notify_then_unlock)
        thread.start()
        backend._receive(listener)
        thread.join()
        if failures:
            raise failures[0]
        assert recorder.received == [(1, large), (2, b"small")]
    finally:
        for conn in (listener, locker, sender):
            driver.close(conn)
        backend.close()


class FakeBackend:
    """A backend whose history is a list, for the hub's ordering logic alone."""

    def __init__(self, epoch: str, wires: list[bytes]) -> None:
        self.epoch = epoch
        self.wires = wires

    def read(self, group: str, after: int) -> Slice:
        entries = [Entry(n, w) for n, w in enumerate(self.wires, 1) if n > after]
        return Slice(self.epoch, len(self.wires), entries)

    def subscribe(self, group: str) -> None: ...
    def unsubscribe(self, group: str) -> None: ...
    def wait_subscribed(self, group: str, timeout: float) -> bool:
        return True

    def presence_add(self, *args: object) -> None: ...
    def presence_remove(self, *args: object) -> None: ...


class Client:
    """What the hub delivers to, recording what it was sent."""

    request = None

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def deliver(self, item: object) -> None: ...
    def send_nowait(self, opcode: int, payload: bytes, frame: bytes | None = None) -> bool:
        self.sent.append(payload)
        return True

    def send_many_nowait(self, messages: list[tuple[int, bytes, bytes | None]]) -> bool:
        self.sent.extend(payload for _opcode, payload, _frame in messages)
        return True


def test_a_resume_ahead_of_the_workers_live_stream_gets_each_message_once(monkeypatch) -> None:
    """The history read during a join already holds 4 and 5; the worker's live
    stream delivers them afterwards: the resumed client must not get them twice."""
    from djws.broadcast import hub as hub_module
    from djws.broadcast.members import Identity

    backend = FakeBackend("e", [b"t1", b"t2", b"t3", b"t4", b"t5"])
    monkeypatch.setattr(hub_module, "get_backend", lambda: backend)
    hub = hub_module.Hub()
    watcher, resumed = Client(), Client()
    for client in (watcher, resumed):
        hub.attach(client, Identity(None, None))  # type: ignore[arg-type]
    hub.join(watcher, "g")  # the worker's cursor is at 5... of an older read:
    hub.groups["g"].cursor = Position("e", 3)  # its live stream has delivered up to 3
    joined = hub.join(resumed, "g", since=Position("e", 2))
    assert (joined.recovered, joined.position) == (True, Position("e", 5))
    for offset in (4, 5, 6):  # what the live stream brings now
        hub.receive("g", Position("e", offset), f"t{offset}".encode())
    assert resumed.sent == [b"3", b"4", b"5", b"6"]
    assert watcher.sent == [b"4", b"5", b"6"]


def test_members_that_joined_before_the_subscription_was_confirmed_miss_nothing(
    monkeypatch, caplog
) -> None:
    """Under load the backend may confirm a new subscription after join() stopped
    waiting: what was published in between is not received live, and must be
    replayed from the history once the subscription is confirmed."""
    from djws.broadcast import hub as hub_module
    from djws.broadcast.members import Identity

    class Unconfirmed(FakeBackend):
        def wait_subscribed(self, group: str, timeout: float) -> bool:
            return False

    backend = Unconfirmed("e", [b"t1", b"t2", b"t3"])
    monkeypatch.setattr(hub_module, "get_backend", lambda: backend)
    hub = hub_module.Hub()
    resumed, fresh = Client(), Client()
    for client in (resumed, fresh):
        hub.attach(client, Identity(None, None))  # type: ignore[arg-type]
    assert hub.join(resumed, "g", since=Position("e", 2)).position == Position("e", 3)
    hub.join(fresh, "g")
    backend.wires += [b"t4", b"t5"]  # published before the subscription took effect
    hub.confirmed("g")  # what the backend calls when it confirms the subscription
    hub.receive("g", Position("e", 6), b"t6")  # and then live
    assert resumed.sent == [b"3", b"4", b"5", b"6"]
    assert fresh.sent == [b"4", b"5", b"6"]
    assert "Group 'g': the broadcast backend has not confirmed the subscription yet" in (
        caplog.text
    )


def test_a_catch_up_ends_where_the_cursor_is_when_its_read_returns(monkeypatch) -> None:
    """Two catch-ups of a new group overlap (the confirmation's, and a join's): the one
    that returns last must not move the cursor past what the other delivered."""
    from djws.broadcast import hub as hub_module
    from djws.broadcast.members import Identity

    backend = FakeBackend("e", [b"t1"])
    monkeypatch.setattr(hub_module, "get_backend", lambda: backend)
    hub = hub_module.Hub()
    client = Client()
    hub.attach(client, Identity(None, None))  # type: ignore[arg-type]
    hub.join(client, "g")
    read = backend.read

    def read_then_more_arrive(group: str, after: int) -> Slice:
        history = read(group, after)
        backend.wires.append(b"t2")  # published, and received live, while the read
        hub.receive("g", Position("e", 2), b"t2")  # was on its way back
        return history

    hub.groups["g"].cursor = None  # as before the group's first catch_up
    monkeypatch.setattr(backend, "read", read_then_more_arrive)
    hub.catch_up("g")
    assert hub.cursor("g") == Position("e", 2)
    hub.receive("g", Position("e", 3), b"t3")
    assert client.sent == [b"2", b"3"]


def test_a_position_from_before_any_stream_resumes_from_the_first_message() -> None:
    history = Slice("e", 2, [Entry(1, b"ta"), Entry(2, b"tb")])
    assert history.covers(Position.parse(":0"))
    assert not Slice("e", 3, [Entry(2, b"tb"), Entry(3, b"tc")]).covers(Position.parse(":0"))
    assert Slice("e", 0, []).covers(Position.parse(":0"))


def test_a_resume_is_written_in_a_few_batches_framed_once_for_all(monkeypatch) -> None:
    from djws.broadcast import hub as hub_module
    from djws.broadcast.members import Identity

    backend = FakeBackend("e", [f"t{n}".encode() for n in range(1, 151)])
    monkeypatch.setattr(hub_module, "get_backend", lambda: backend)
    hub = hub_module.Hub()
    writes: dict[Client, list[int]] = {}

    class Counting(Client):
        def send_many_nowait(self, messages: list[tuple[int, bytes, bytes | None]]) -> bool:
            writes.setdefault(self, []).append(len(messages))
            return super().send_many_nowait(messages)

    first, second = Counting(), Counting()
    for client in (first, second):
        hub.attach(client, Identity(None, None))  # type: ignore[arg-type]
        assert hub.join(client, "g", since=Position("e", 0)).replayed == 150
        assert client.sent == [f"{n}".encode() for n in range(1, 151)]
        assert writes[client] == [64, 64, 22]
    assert len(hub.framed) == 150  # framed for the first client, reused for the second


def test_the_frame_cache_is_bounded_in_bytes_and_keeps_no_large_message() -> None:
    from djws.broadcast.framed import FrameCache

    cache = FrameCache(limit=64 * 100)
    first = cache.get("g", Position("e", 1), b"t" + b"a" * 40, enveloped=False)
    assert first == (OP_TEXT, b"a" * 40, bytes([0x81, 40]) + b"a" * 40)
    assert cache.get("g", Position("e", 1), b"t" + b"a" * 40, enveloped=False) is first
    assert cache.size == 40 + 42
    enveloped = cache.get("g", Position("e", 1), b"tx", enveloped=True)
    assert json.loads(enveloped[1])["position"] == "e:1"
    for offset in range(2, 200):
        cache.get("g", Position("e", offset), b"t" + b"a" * 40, enveloped=False)
        assert cache.size <= 64 * 100
    assert cache.get("g", Position("e", 1), b"t" + b"a" * 40, enveloped=False) is not first
    large = b"b" + bytes(101)  # above limit / 64: framed, not kept
    before = len(cache)
    assert cache.get("g", Position("e", 500), large, enveloped=False)[1] == bytes(101)
    assert len(cache) == before


def hub_of(monkeypatch: Any, backend: FakeBackend, *clients: Client) -> Any:
    """A hub on ``backend`` with ``clients`` attached."""
    from djws.broadcast import hub as hub_module
    from djws.broadcast.members import Identity

    monkeypatch.setattr(hub_module, "get_backend", lambda: backend)
    hub = hub_module.Hub()
    for client in clients:
        hub.attach(client, Identity(None, None))  # type: ignore[arg-type]
    return hub


class CountingBackend(FakeBackend):
    """A FakeBackend that counts its history reads."""

    reads = 0

    def read(self, group: str, after: int) -> Slice:
        self.reads += 1
        return super().read(group, after)


def test_resumes_from_where_a_read_left_off_are_answered_without_reading_again(
    monkeypatch,
) -> None:
    """After a restart a group's clients resume from the same position: the first
    resume reads the history, the next ones are answered from what the worker
    delivered since, with the same messages and positions; older ones still read."""
    backend = CountingBackend("e", [b"t1", b"t2", b"t3", b"t4", b"t5"])
    first, second, third, older = Client(), Client(), Client(), Client()
    hub = hub_of(monkeypatch, backend, first, second, third, older)
    joined = hub.join(first, "g", since=Position("e", 3))
    assert (joined.recovered, joined.position, joined.replayed) == (True, Position("e", 5), 2)
    reads = backend.reads
    backend.wires.append(b"t6")
    hub.receive("g", Position("e", 6), b"t6")
    joined = hub.join(second, "g", since=Position("e", 3))
    assert (joined.recovered, joined.position, joined.replayed) == (True, Position("e", 6), 3)
    joined = hub.join(third, "g", since=Position("e", 6))
    assert (joined.recovered, joined.position, joined.replayed) == (True, Position("e", 6), 0)
    assert backend.reads == reads  # neither read the history
    joined = hub.join(older, "g", since=Position("e", 1))  # before what the worker kept
    assert (joined.recovered, joined.position, joined.replayed) == (True, Position("e", 6), 5)
    assert backend.reads == reads + 1
    backend.wires.append(b"t7")
    hub.receive("g", Position("e", 7), b"t7")
    assert first.sent == [b"4", b"5", b"6", b"7"]
    assert second.sent == [b"4", b"5", b"6", b"7"]
    assert third.sent == [b"7"]
    assert older.sent == [b"2", b"3", b"4", b"5", b"6", b"7"]


def test_a_reset_ends_what_the_worker_kept_and_resumes_read_again(monkeypatch) -> None:
    class Closing(Client):
        closed: tuple[int, str] | None = None

        def close(self, code: int, reason: str) -> None:
            self.closed = (code, reason)

    backend = CountingBackend("e", [b"t1", b"t2", b"t3"])
    first, second = Closing(), Client()
    hub = hub_of(monkeypatch, backend, first, second)
    hub.join(first, "g", since=Position("e", 1))
    assert hub.groups["g"].recent is not None
    hub.reset("g", Position("e", 3))  # messages before 3 were lost here
    assert hub.groups["g"].recent is None
    assert first.closed is not None
    assert first.closed[0] == 1012
    reads = backend.reads
    joined = hub.join(second, "g", since=Position("e", 2))
    assert (joined.recovered, joined.replayed, backend.reads) == (True, 1, reads + 1)
    assert second.sent == [b"3"]


def test_a_window_of_recent_messages_is_bounded_follows_its_stream_and_expires(
    monkeypatch,
) -> None:
    from djws.broadcast import recent as recent_module
    from djws.broadcast.recent import RECENT_BYTES, RECENT_MESSAGES, RECENT_SECONDS, Recent

    def at(offset: int) -> Position:
        return Position("e", offset)

    # As docs/topics/broadcast.rst says: 64 messages, 64 KiB, 30 seconds.
    assert (RECENT_MESSAGES, RECENT_BYTES, RECENT_SECONDS) == (64, 64 * 1024, 30.0)

    assert Recent.of(at(1), [(at(2), b"ta"), (at(4), b"tb")]) is None  # not in a row
    assert Recent.of(at(1), [(Position("f", 2), b"ta")]) is None  # another stream
    window = Recent.of(at(1), [(at(2), b"ta")])
    assert window is not None
    assert window.last == at(2)
    for offset in range(3, 3 + 2 * RECENT_MESSAGES):
        assert window.add(at(offset), b"tx")
    assert len(window.entries) == RECENT_MESSAGES
    assert window.after == at(2 + RECENT_MESSAGES)
    assert window.since(at(1)) is None  # no longer kept
    assert window.since(window.after) == window.entries
    assert window.since(window.last) == []
    assert window.since(Position("f", window.last.offset)) is None
    assert not window.add(at(window.last.offset + 2), b"tx")  # a gap
    assert window.add(at(window.last.offset + 1), b"t" + bytes(RECENT_BYTES // 2))
    assert window.add(at(window.last.offset + 1), b"t" + bytes(RECENT_BYTES // 2))
    assert len(window.entries) == 1
    assert window.size <= RECENT_BYTES
    now = recent_module.monotonic()
    monkeypatch.setattr(recent_module, "monotonic", lambda: now + RECENT_SECONDS + 1)
    assert not window.add(at(window.last.offset + 1), b"tx")  # unused for too long


class _RecordingBackend(ListeningBackend):
    """A listening backend whose presence writes are recorded; the first one waits
    until ``hold`` is released, as a slow round trip would."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__("test://", prefix="t", presence_ttl=30.0)
        self.live = True
        self.fail = fail
        self.hold = threading.Event()
        self.writes: list[tuple[list[tuple[str, str, str]], list[tuple[str, str]]]] = []

    def start(self) -> None:
        pass  # no listener: the test drives presence alone

    def _presence_write(
        self, add: list[tuple[str, str, str]], remove: list[tuple[str, str]]
    ) -> None:
        if not self.writes:
            self.writes.append((add, remove))
            assert self.hold.wait(10)
        else:
            self.writes.append((add, remove))
        if self.fail:
            raise OSError("backend down")


def test_presence_changes_made_during_a_write_are_written_together_in_the_next() -> None:
    backend = _RecordingBackend()
    first = threading.Thread(target=backend.presence_add, args=("g", "c0", "e0"))
    first.start()
    wait_for(lambda: backend.writes, 10, "the first presence write starting", interval=0.01)
    others = [
        threading.Thread(target=backend.presence_add, args=("g", f"c{i}", f"e{i}"))
        for i in range(1, 20)
    ]
    others.append(threading.Thread(target=backend.presence_remove, args=("h", "old")))
    for thread in others:
        thread.start()
    wait_for(
        lambda: len(backend._presence_batch.add) == 19 and backend._presence_batch.remove,
        10,
        "every change in the waiting batch",
        interval=0.01,
    )
    backend.hold.set()
    for thread in [first, *others]:
        thread.join(10)
    assert [len(add) for add, _ in backend.writes] == [1, 19]
    assert backend.writes[1][1] == [("h", "old")]
    assert sorted(backend.writes[1][0]) == sorted(("g", f"c{i}", f"e{i}") for i in range(1, 20))
    assert not backend._presence_dirty


def test_a_failed_presence_write_is_retried_for_everyone_in_its_batch() -> None:
    backend = _RecordingBackend(fail=True)
    backend.hold.set()
    backend.presence_add("g", "c1", "e1")
    backend.presence_remove("g", "c2")
    assert backend._presence_dirty  # rewritten from the snapshot by the heartbeat
    assert backend._stale_presence == {("g", "c2")}


def test_a_removal_cancels_an_addition_waiting_in_the_same_batch() -> None:
    batch = PresenceBatch().add_entry("g", "c", "e").remove_entry("g", "c")
    assert (batch.add, batch.remove) == ({}, {("g", "c")})
    batch = PresenceBatch().remove_entry("g", "c").add_entry("g", "c", "e")
    assert (batch.add, batch.remove) == ({("g", "c"): ("g", "c", "e")}, set())


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["psycopg", "psycopg2"])
def test_a_presence_batch_is_written_in_one_statement_each_way(name: str) -> None:
    backend = PostgresBackend(
        "postgresql://postgres@127.0.0.1:5432/test",
        prefix=f"unit{uuid.uuid4().hex[:8]}",
        presence_ttl=30,
    )
    backend._driver = driver = Driver(name)
    recorder = Recorder()
    recorder.worker_id = f"unit-{uuid.uuid4().hex[:8]}"
    backend.start_serving(recorder)  # type: ignore[arg-type]

    def entry(connection: str, name: str) -> str:
        return json.dumps({"worker": "w", "connection": connection, "name": name})

    def cleanup(conn: object) -> None:
        driver.execute(
            conn, "DELETE FROM djws_broadcast_worker WHERE worker = %s", [recorder.worker_id]
        )
        driver.execute(
            conn, "DELETE FROM djws_broadcast_presence WHERE worker = %s", [recorder.worker_id]
        )

    statements: list[str] = []
    execute = driver.execute

    def counting(conn: object, sql: str, args: object = None) -> list[tuple[object, ...]]:
        statements.append(sql.split()[0])
        return execute(conn, sql, args)

    try:
        assert backend._heartbeat() is False  # the worker's row is new
        driver.execute = counting  # type: ignore[method-assign]
        backend._presence_write([("g", f"c{i:03}", entry(f"c{i:03}", "a")) for i in range(300)], [])
        backend._presence_write(
            [("g", "c000", entry("c000", "b"))],
            [("g", "c001"), ("g", "c002"), ("g", "c001"), ("h", "c003")],
        )
        assert statements == ["INSERT", "DELETE", "INSERT"]
        entries = backend.presence("g")
        assert len(entries) == 298
        assert entries[0] == {"worker": "w", "connection": "c000", "name": "b"}
        assert [e["connection"] for e in entries[1:3]] == ["c003", "c004"]
    finally:
        backend._run(cleanup, "cleanup", PresenceError)
        backend.close()


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("", ClientOptions()),
        ("q=djws&page=2", ClientOptions()),  # named only in a value: nothing asked
        ("djws=1", ClientOptions(envelope=True)),
        ("djws-html=1", ClientOptions(html=True)),
        (
            "djws=1&djws-since=" + quote('{"room": "e1:7"}'),
            ClientOptions(True, {"room": Position.parse("e1:7")}),
        ),
        ("djws=1&djws-since=not-json", ClientOptions(envelope=True)),
    ],
)
def test_client_options_are_read_from_the_query_string(query: str, options: ClientOptions) -> None:
    assert client_options(RequestFactory().get("/ws/", QUERY_STRING=query)) == options
    assert client_options(None) == ClientOptions()
