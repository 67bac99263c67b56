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
    assert lost_before(Position("other", 4), history) == 0  # not the epoch before
    assert lost_before(OLD, Slice(NEW, 2, [])) == 0  # a restart: nothing recorded


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
