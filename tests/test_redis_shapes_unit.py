"""Redis shapes without a server: URL forms, and epochs that follow a change of primary."""

from __future__ import annotations

import pytest

from djws.broadcast.backends import backend_path
from djws.broadcast.backends.redis_shape import Shape, ShapeError, split_url
from djws.broadcast.position import Entry, Position, Slice, lost_before, read_since

pytestmark = pytest.mark.fast

OLD, NEW = Position("old", 7), "new"


def test_sentinel_and_cluster_urls_name_the_redis_backend() -> None:
    for scheme in ("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"):
        assert backend_path(f"{scheme}://h:1/x").endswith(".RedisBackend")


def test_a_sentinel_url_lists_sentinels_a_service_a_database_and_credentials() -> None:
    url = "redis+sentinel://u:p%40ss@s1:26379,s2,[::1]:26380/primary/3?sentinel_password=sp"
    assert split_url(url) == (
        "redis+sentinel",
        [("s1", 26379), ("s2", 0), ("::1", 26380)],
        "/primary/3",
        {"sentinel_password": "sp", "username": "u", "password": "p@ss"},
    )
    shape = Shape(url, timeout=1.0)
    try:
        assert shape.sentinel_service == "primary"
        assert shape.options["db"] == 3
        assert shape.options["password"] == "p@ss"
        assert "sentinel_password" not in shape.options
    finally:
        shape.close()


def test_a_sentinel_url_without_a_service_is_refused() -> None:
    with pytest.raises(ShapeError, match="names no Sentinel service: add '/service_name'"):
        Shape("redis+sentinel://s1:26379/", timeout=1.0)


def test_a_new_epoch_after_the_one_a_worker_finished_lost_nothing() -> None:
    history = Slice(NEW, 2, [Entry(1, b"a"), Entry(2, b"b")], OLD)
    assert lost_before(OLD, history) == 0
    assert lost_before(Position("old", 9), history) == 0  # the new primary was behind
    assert lost_before(Position("old", 4), history) == 3  # 5, 6 and 7 are gone
    assert lost_before(Position("other", 4), history) is None  # an epoch before that: unknown
    assert lost_before(OLD, Slice(NEW, 2, [])) is None  # a restart: nothing recorded
    assert lost_before(Position("", 0), Slice(NEW, 2, [])) == 0  # joined before any stream
    assert lost_before(None, Slice(NEW, 2, [])) == 0


def test_a_client_resumes_from_exactly_where_the_old_epoch_ended() -> None:
    history = Slice(NEW, 2, [Entry(1, b"a"), Entry(2, b"b")], OLD)
    reads: list[int] = []

    def read(after: int) -> Slice:
        reads.append(after)
        return Slice(NEW, 2, [e for e in history.entries if e.offset > after], OLD)

    found = read_since(read, OLD)
    assert reads == [7, 0]  # the old epoch's offset means nothing in the new one
    assert found.entries == history.entries
    assert found.covers(OLD)
    assert not found.covers(Position("old", 6))
    assert not found.covers(Position("old", 8))


class SwitchingBackend:
    """A history that a new primary starts over, after ``previous``."""

    def __init__(self) -> None:
        self.history = Slice("old", 4, [Entry(n, f"t{n}".encode()) for n in range(1, 5)])

    def read(self, group: str, after: int) -> Slice:
        epoch, head, entries, previous = self.history
        return Slice(epoch, head, [e for e in entries if e.offset > after], previous)

    def subscribe(self, group: str) -> None: ...
    def unsubscribe(self, group: str) -> None: ...
    def wait_subscribed(self, group: str, timeout: float) -> bool:
        return True

    def presence_add(self, *args: object) -> None: ...
    def presence_remove(self, *args: object) -> None: ...


class Recorder:
    """A member that joined with forward=False: it records what the view receives."""

    request = None

    def __init__(self) -> None:
        self.items: list[object] = []

    def deliver(self, item: object) -> None:
        self.items.append(item)


@pytest.mark.parametrize(("previous", "reset"), [(7, True), (4, False), (2, False)])
def test_a_worker_is_told_when_a_new_primary_lost_what_it_had_not_received(
    monkeypatch: pytest.MonkeyPatch, previous: int, reset: bool
) -> None:
    from djws.broadcast import GroupMessage, GroupReset
    from djws.broadcast import hub as hub_module
    from djws.broadcast.members import Identity

    backend = SwitchingBackend()
    monkeypatch.setattr(hub_module, "get_backend", lambda: backend)
    hub = hub_module.Hub()
    member = Recorder()
    hub.attach(member, Identity(None, None))  # type: ignore[arg-type]
    hub.join(member, "g", forward=False)  # type: ignore[arg-type]
    assert hub.cursor("g") == Position("old", 4)
    # The new primary's copy of the old epoch ended at `previous`; it numbers from 1.
    backend.history = Slice("new", 1, [Entry(1, b"tnext")], Position("old", previous))
    hub.receive("g", Position("new", 1), b"tnext")
    expected: list[object] = [GroupMessage("g", b"tnext", Position("new", 1))]
    if reset:  # 5, 6 and 7 of the old epoch never reached this worker, and are gone
        expected.insert(0, GroupReset("g", Position("new", 1)))
    assert [(type(i).__name__, str(i.position)) for i in member.items] == [  # type: ignore[attr-defined]
        (type(i).__name__, str(i.position))
        for i in expected  # type: ignore[attr-defined]
    ]
