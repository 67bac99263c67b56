"""The PostgreSQL backend's pool: one slow call does not hold up the process's others.

A publish to a group whose row another transaction holds locked waits for that
lock. With one connection per process, every other publish, history read and
presence write of the process waited behind it; with the pool they go on.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from djws.broadcast.backends.postgres import POOL_SIZE, PostgresBackend
from djws.broadcast.message import encode

from .support import PG_URL, unique_prefix

pytestmark = pytest.mark.postgres


def test_a_publish_waiting_for_a_lock_does_not_hold_up_the_others() -> None:
    prefix = unique_prefix()
    backend = PostgresBackend(PG_URL, prefix=prefix, presence_ttl=30, timeout=10.0)
    blocked: list[object] = []
    try:
        backend.publish("locked", encode("first"))
        with psycopg.connect(PG_URL) as holder:
            holder.execute(
                "SELECT 1 FROM djws_broadcast_stream WHERE grp = %s FOR UPDATE",
                (f"{prefix}:locked",),
            )
            waiting = threading.Thread(
                target=lambda: blocked.append(backend.publish("locked", encode("second")))
            )
            waiting.start()
            deadline = time.monotonic() + 10
            while not _waits_for_a_lock(prefix):
                assert time.monotonic() < deadline, "the publish never waited for the lock"
                time.sleep(0.05)
            # Meanwhile, the same process publishes elsewhere and reads history.
            others = [backend.publish(f"free-{n}", encode("x")) for n in range(POOL_SIZE * 3)]
            history = backend.read("free-0", 0)
            assert waiting.is_alive(), "the other calls waited until the lock was released"
            assert [p.offset for p in others] == [1] * (POOL_SIZE * 3)
            assert history.position == others[0]
            holder.rollback()
        waiting.join(timeout=10)
        assert [str(p).split(":")[1] for p in blocked] == ["2"]
    finally:
        backend.close()


def _waits_for_a_lock(prefix: str) -> bool:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event_type = 'Lock'",
            (f"djws:{prefix}:publish"[:63],),
        ).fetchall()
        return bool(rows[0][0])
