"""Every scenario of the benchmarks' load client, run for real on small counts.

The server is the bench's own Django project (``bench/project``, settings
``benchproject.settings_djws``) started as ``bench/run.py`` starts it --
``manage.py runwebsocket --noreload --workers 1 ...`` -- but with this
virtualenv's interpreter, on a SQLite database under pytest's tmp_path, migrated
and given the logged-in session as ``bench/servers.py``'s ``prepare_database()``
does. ``TMPDIR`` is the test's too, so the ``local://`` broadcast socket of this
server is its own (a benchmark running beside the tests has another one).

The scenarios share one server; the storm has its own: two workers on the
machine's Redis, under a prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.append(str(BENCH))  # bench/ is not a package: the client is ``load`` (bench/load/)

from load.scenarios import SCENARIOS  # noqa: E402
from servers import NODE, TARGETS, free_port, handshake_once  # noqa: E402 - bench/servers.py

from .support import Server, manage, run_server  # noqa: E402
from .support.npmci import ensure_installed  # noqa: E402

PROJECT = BENCH / "project"
REDIS_URL = "redis://127.0.0.1:6379/0"

LATENCY = {"p50_ms", "p99_ms", "max_ms", "samples"}
CPU = {"cpu_client_percent", "cpu_server_percent", "cpu_server_s", "cpu_other_percent"}


def keys(names: str, *more: set[str]) -> set[str]:
    """The keys of a result: ``names`` (separated by spaces), and the sets ``more``."""
    return set(names.split()).union(*more)


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The bench project's environment: its settings, a fresh database, a TMPDIR."""
    tmp = tmp_path_factory.mktemp("bench")
    return {
        "DJANGO_SETTINGS_MODULE": "benchproject.settings_djws",
        "BENCH_DB": str(tmp / "bench.sqlite3"),
        "TMPDIR": str(tmp),
    }


@pytest.fixture(scope="module")
def session_key(bench_env: dict[str, str]) -> str:
    """Migrate the database, create user ``bench`` and a session that logs it in."""
    migrated = manage("migrate", "--noinput", "-v", "0", env=bench_env, cwd=PROJECT, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    made = manage("benchsession", env=bench_env, cwd=PROJECT)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def bench_server(env: dict[str, str], workers: int = 1) -> Iterator[Server]:
    """``manage.py runwebsocket`` of the bench project, as bench/servers.py starts it;
    yields once a worker echoes (the arbiter listens before its workers are up)."""
    options = ["--workers", str(workers), "--connections", "20000", "--skip-checks"]
    with run_server(*options, "127.0.0.1:0", cwd=PROJECT, env=env) as server:
        deadline = time.monotonic() + 30.0
        while not handshake_once(server.port):
            assert time.monotonic() < deadline, f"no echo from the server:\n{server.log()}"
            time.sleep(0.1)
        yield server


@pytest.fixture(scope="module")
def server(bench_env: dict[str, str], session_key: str) -> Iterator[Server]:
    """One one-worker server (on the migrated database) for the scenarios without Redis.

    bench/run.py restarts the server for every scenario so that none inherits
    another's memory; here each scenario closes what it opened, and sharing the
    server saves a start and a graceful stop per test.
    """
    with bench_server(bench_env) as server:
        yield server


def config(server: Server, scenario: str, path: str, **options: Any) -> dict[str, Any]:
    """The client configuration bench/run.py would pass (no core: nothing is pinned)."""
    return {
        "scenario": scenario,
        "port": server.port,
        "path": path,
        "server_pid": server.process.pid,
        **options,
    }


def test_echo_by_path(server: Server, tmp_path: Path) -> None:
    """Through bench/loadclient.py as bench/run.py runs it: one JSON line on stdout."""
    cfg = config(server, "echo", "/echo", connections=5, size=64, warmup=0.2, duration=1.0)
    proc = subprocess.run(
        [sys.executable, str(BENCH / "loadclient.py"), json.dumps(cfg)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    result = json.loads(proc.stdout)
    assert set(result) == keys(
        "ok connections messages duration_s msgs_per_s mismatches unanswered_at_end"
        " errors client_wall_s",
        LATENCY,
        CPU,
    )
    assert result["ok"] is True
    assert result["connections"] == 5
    assert result["messages"] > 0
    assert result["messages"] == result["samples"]
    assert result["msgs_per_s"] == round(result["messages"] / 1.0, 1)
    assert result["mismatches"] == 0
    assert result["unanswered_at_end"] == 0
    assert result["errors"] == {}
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["cpu_server_percent"] > 0
    assert 1.2 <= result["client_wall_s"] < 30
    assert "echo: 5/5 connections open on /echo" in proc.stderr


def test_flood(server: Server) -> None:
    cfg = config(server, "flood", "/echo", others=5, rate=10.0, duration=1.0)
    cfg["probe_interval"] = 0.1
    result = SCENARIOS["flood"](cfg)
    phases = {
        f"{phase}_{key}"
        for phase in ("quiet", "flood")
        for key in (
            *LATENCY,
            "handshake_p50_ms",
            "handshake_p99_ms",
            "handshake_max_ms",
            "handshakes",
            "cpu_server_percent",
        )
    }
    assert set(result) == keys(
        "ok others rate_per_client flood_sent_per_s flood_echoed_per_s flooder_closed"
        " late mismatches errors p99_flood_over_quiet",
        phases,
    )
    assert result["ok"] is True
    assert (result["others"], result["rate_per_client"]) == (5, 10.0)
    assert result["quiet_samples"] > 0
    assert result["flood_samples"] > 0
    assert result["quiet_handshakes"] > 0
    assert result["flood_handshakes"] > 0
    assert result["flooder_closed"] is None
    assert result["mismatches"] == 0
    assert result["flood_sent_per_s"] > 0
    assert result["flood_echoed_per_s"] > 0
    assert result["p99_flood_over_quiet"] > 0


def test_idle(server: Server, session_key: str) -> None:
    cfg = config(server, "idle", "/whoami", connections=20, concurrency=5, settle=0.2)
    cfg.update(cookie=session_key, expect_user="bench", open_timeout=30.0, answer_timeout=10.0)
    result = SCENARIOS["idle"](cfg)
    assert set(result) == keys(
        "ok requested opened open_s handshakes_per_s auth_ok auth_bad alive_at_end"
        " answered_at_end server_pings_answered errors rss_before_kib rss_after_kib"
        " rss_per_process_kib rss_per_conn_kib rest_cpu_server_percent",
        CPU,
    )
    assert result["ok"] is True
    assert 0 <= result["rest_cpu_server_percent"] <= 100 * len(os.sched_getaffinity(0))
    # Every socket opened answers at the end.
    assert result["requested"] == result["opened"] == 20
    assert result["alive_at_end"] == result["answered_at_end"] == 20
    assert (result["auth_ok"], result["auth_bad"]) == (20, {})
    assert result["errors"] == {}
    assert result["handshakes_per_s"] > 0
    assert result["rss_after_kib"] > 10_000
    assert str(server.process.pid) in result["rss_per_process_kib"]
    assert len(result["rss_per_process_kib"]) >= 2  # the arbiter and its worker


@pytest.mark.parametrize(("cookie", "user"), [(True, "bench"), (False, "anonymous")])
def test_handshake(server: Server, session_key: str, cookie: bool, user: str) -> None:
    cfg = config(server, "handshake", "/whoami", concurrency=5, warmup=0.2, duration=1.0)
    cfg.update(cookie=session_key if cookie else None, expect_user=user)
    result = SCENARIOS["handshake"](cfg)
    assert set(result) == keys(
        "ok concurrency handshakes duration_s handshakes_per_s auth_ok auth_bad failed errors",
        LATENCY,
        CPU,
    )
    assert result["ok"] is True
    assert result["handshakes"] > 0
    assert result["handshakes"] == result["samples"]
    # auth_ok and handshakes are read at slightly different instants at both ends of
    # the window (see the report), so they may differ by what was in flight.
    assert abs(result["auth_ok"] - result["handshakes"]) <= 5
    assert result["auth_bad"] == {}
    assert result["failed"] == 0
    assert result["errors"] == {}


def test_broadcast(server: Server) -> None:
    cfg = config(server, "broadcast", "/sub", subscribers=10, concurrency=5, rate=20.0)
    cfg.update(duration=0.5, drain=10.0, size=64, open_timeout=30.0)
    result = SCENARIOS["broadcast"](cfg)
    assert set(result) == keys(
        "ok subscribers subscribe_s published rate_per_s expected_deliveries delivered"
        " lost duplicates out_of_order bad_payloads drain_s subscribers_open_at_end errors",
        LATENCY,
        CPU,
    )
    assert result["ok"] is True
    assert (result["subscribers"], result["published"]) == (10, 10)
    assert result["expected_deliveries"] == result["delivered"] == result["samples"] == 100
    assert result["lost"] == 0
    assert (result["duplicates"], result["out_of_order"], result["bad_payloads"]) == (0, 0, 0)
    assert result["subscribers_open_at_end"] == 10
    assert result["errors"] == {}
    assert result["drain_s"] < 10.0


def test_render(bench_env: dict[str, str], server: Server) -> None:
    made = manage("benchsession", "--users", "3", env=bench_env, cwd=PROJECT)
    assert made.returncode == 0, made.stderr
    cookies = made.stdout.strip().splitlines()
    assert len(cookies) == 3
    cfg = config(server, "render", "/render/sub", cookies=cookies, members=12, concurrency=6)
    cfg.update(rate=20.0, duration=0.5, drain=10.0, open_timeout=30.0)
    result = SCENARIOS["render"](cfg)
    phase = keys("published delivered lost server_cpu_ms_per_publish cpu_server_percent", LATENCY)
    assert set(result) == keys(
        "ok members users subscribe_s duplicates wrong errors per_user_over_once",
        {f"once_{key}" for key in phase},
        {f"per_user_{key}" for key in phase},
    )
    assert result["ok"] is True
    assert (result["members"], result["users"]) == (12, 3)
    for mode in ("once", "per_user"):
        assert result[f"{mode}_published"] == 10
        assert result[f"{mode}_delivered"] == result[f"{mode}_samples"] == 120
        assert result[f"{mode}_lost"] == 0
        assert result[f"{mode}_server_cpu_ms_per_publish"] > 0
    # Every member got its own user's version when rendered per user, and the
    # shared one otherwise.
    assert (result["wrong"], result["duplicates"], result["errors"]) == (0, 0, {})


def test_resume(bench_env: dict[str, str], server: Server) -> None:
    cfg = config(server, "resume", "/storm/", connections=20, groups=4, messages=5)
    cfg.update(concurrency=10, reload_path="/reload/", size=64)
    cfg.update(open_timeout=30.0, phase_timeout=30.0, fill_timeout=60.0)
    cfg["fill"] = {
        "argv": [sys.executable, "manage.py", "benchfill"],
        "cwd": str(PROJECT),
        "env": {**bench_env, "PYTHONUNBUFFERED": "1"},
    }
    result = SCENARIOS["resume"](cfg)
    phases = {
        f"{phase}_{key}"
        for phase in ("resume", "reload")
        for key in (
            "caught_up",
            "failed",
            "unfinished",
            "all_s",
            "clients_per_s",
            *LATENCY,
            *CPU,
        )
    }
    assert set(result) == keys(
        "ok connections groups messages_per_group concurrency open_s open_clients_per_s"
        " published fill_s rows_in_table replayed reloaded_rows reload_over_resume"
        " anomaly_counts anomalies parsed_envelopes errors",
        phases,
    ), result.get("error")
    assert result["ok"] is True, result.get("error")
    assert result["published"] == 4 * 5
    assert result["rows_in_table"] == 4 * 5 + 4  # and the priming message of each group
    assert result["resume_caught_up"] == result["reload_caught_up"] == 20
    assert result["replayed"] == result["reloaded_rows"] == 20 * 5
    assert result["anomaly_counts"] == {}
    assert result["anomalies"] == []
    assert result["errors"] == {}
    assert result["resume_all_s"] > 0
    assert result["reload_all_s"] > 0


@pytest.mark.redis
def test_storm(bench_env: dict[str, str], session_key: str) -> None:
    """Two workers on Redis, SIGHUP; every page comes back and holds every message."""
    prefix = f"djws-bench-test-{uuid.uuid4().hex[:10]}"
    env = {**bench_env, "BENCH_BROADCAST_URL": REDIS_URL, "BENCH_BROADCAST_PREFIX": prefix}
    try:
        with bench_server(env, workers=2) as server:
            cfg = config(server, "storm", "/storm/", connections=20, groups=4, concurrency=10)
            cfg.update(steady=0.5, after=0.5, drain=10.0, storm_timeout=30.0)
            cfg.update(open_timeout=30.0, handshake_timeout=10.0, policy="djws.js")
            cfg["publisher"] = {
                "argv": [
                    sys.executable,
                    "manage.py",
                    "benchpublish",
                    "--groups",
                    "4",
                    "--rate",
                    "20",
                    "--max-seconds",
                    "60",
                ],
                "cwd": str(PROJECT),
                "env": {**env, "PYTHONUNBUFFERED": "1"},
            }
            result = SCENARIOS["storm"](cfg)
    finally:
        written = delete_redis_keys(prefix)
    assert written > 0  # what the run wrote was under its prefix, and is gone
    assert set(result) == keys(
        "ok connections groups initial_open_s initial_joined restart policy all_back_s"
        " back back_p50_s back_p90_s back_p99_s back_per_second closed_s resume"
        " reconnect_attempts failed_attempts storm_errors listen_queue_drops listen_queue"
        " listen_overflows syn_cookies resets_before_101 not_recovered resets gaps"
        " duplicates anomalies bad_messages delivered published publish_failed"
        " caught_up_at_end errors",
        CPU,
    ), result.get("error")
    assert result["ok"] is True
    assert result["initial_joined"] == result["back"] == result["caught_up_at_end"] == 20
    assert (result["restart"], result["policy"]) == ("SIGHUP", "djws.js")
    assert 0 < result["all_back_s"] < 30
    assert sum(result["back_per_second"]) == 20
    assert set(result["resume"]) == LATENCY
    assert result["resume"]["samples"] == 20
    assert result["reconnect_attempts"] >= 20
    assert (result["gaps"], result["duplicates"], result["not_recovered"]) == (0, 0, 0)
    assert (result["resets"], result["bad_messages"], result["publish_failed"]) == (0, 0, 0)
    assert result["anomalies"] == []
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert result["listen_queue"] == somaxconn  # runwebsocket's default: the kernel's cap
    assert result["resets_before_101"] == 0
    assert result["published"] > 4
    assert result["delivered"] > 0


def delete_redis_keys(prefix: str) -> int:
    """Delete every Redis key under ``prefix:``; return how many there were."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    try:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        return len(keys)
    finally:
        client.close()


# -- the Node.js peer ------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_peer() -> Iterator[int]:
    """bench/node/server.js (the ws library, as its lock file pins it), as run.py starts it."""
    ensure_installed(NODE)
    port = free_port()
    command = TARGETS["ws"].command(port)
    process = subprocess.Popen(command, cwd=NODE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30.0
        while not handshake_once(port):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the ws peer does not echo"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_node_peer_serves_the_echo_and_handshake_scenarios(node_peer: int) -> None:
    cfg = {"scenario": "echo", "port": node_peer, "path": "/echo", "server_pid": None}
    result = SCENARIOS["echo"](
        {**cfg, "connections": 5, "size": 64, "warmup": 0.2, "duration": 1.0}
    )
    assert result["ok"] is True, result
    assert result["messages"] > 0
    cfg = {"scenario": "handshake", "port": node_peer, "path": "/whoami", "server_pid": None}
    result = SCENARIOS["handshake"]({**cfg, "concurrency": 3, "warmup": 0.2, "duration": 1.0})
    assert result["ok"] is True, result
    assert result["failed"] == 0
    assert result["handshakes"] > 0
