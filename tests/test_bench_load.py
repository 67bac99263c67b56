"""The benchmarks' load client (``bench/load/``), its pure parts: frames, meters, summaries.

The scenarios themselves run against the bench's Django project in
``test_bench_scenarios.py``. ``bench/`` is not a package: the client is imported
as ``load``, the way ``bench/loadclient.py`` (run by path) and ``bench/churn.py``
and ``bench/codec.py`` see it.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ProtocolError
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.append(str(BENCH))  # appended: bench/'s scripts never shadow another module

from load import frames, meters  # noqa: E402
from load.frames import (  # noqa: E402
    CLOSE_FRAME,
    MASK,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    close_code_in,
    mask_frame,
    server_frame,
)
from load.meters import latency_summary, percentile  # noqa: E402

from .support import free_port  # noqa: E402

pytestmark = pytest.mark.fast


def parse(data: bytes, *, mask: bool) -> Frame:
    """Parse one whole frame with websockets' parser; all of ``data`` must be used."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=mask)
    with pytest.raises(StopIteration) as stop:
        next(parser)
    assert reader.at_eof(), "bytes left after the frame"
    return stop.value.value


def reference_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, mask: bytes = MASK
) -> bytes:
    """A masked frame, built the simplest way (what churn.py and codec.py had)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((first, 0x80 | len(payload))) + mask + masked


# -- frames -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 64, 125, 126, 127, 65535, 65536, 70001])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_mask_frame_is_one_masked_frame_websockets_parses(opcode: int, size: int) -> None:
    payload = (bytes(range(256)) * (size // 256 + 1))[:size]
    data = mask_frame(opcode, payload)
    frame = parse(data, mask=True)
    assert (frame.opcode, frame.data, frame.fin) == (Opcode(opcode), payload, True)
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False)
    assert data[2 if size < 126 else 4 if size < 65536 else 10 :][:4] == MASK
    assert len(data) == size + 6 + (0 if size < 126 else 2 if size < 65536 else 8)


def test_mask_frame_control_frames() -> None:
    assert parse(mask_frame(OP_PING, b"hello"), mask=True).data == b"hello"
    pong = parse(mask_frame(OP_PONG, b""), mask=True)
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"")
    close = parse(CLOSE_FRAME, mask=True)
    assert (close.opcode, close.data) == (Opcode.CLOSE, struct.pack("!H", 1000))
    masked_code = bytes((0x03 ^ MASK[0], 0xE8 ^ MASK[1]))
    assert mask_frame(OP_CLOSE, b"\x03\xe8") == CLOSE_FRAME == b"\x88\x82" + MASK + masked_code


def test_mask_frame_fragments_and_rsv1() -> None:
    first = parse(mask_frame(OP_TEXT, b"frag", fin=False), mask=True)
    assert (first.opcode, first.fin, first.data) == (Opcode.TEXT, False, b"frag")
    more = parse(mask_frame(0x0, b"ment", fin=False), mask=True)
    assert (more.opcode, more.fin) == (Opcode.CONT, False)
    # RSV1 without a negotiated extension is a protocol error to websockets: it saw it.
    with pytest.raises(ProtocolError, match="reserved bits"):
        parse(mask_frame(OP_BINARY, b"", fin=False, rsv1=True), mask=True)
    assert mask_frame(OP_BINARY, b"", fin=False, rsv1=True) == b"\x42\x80" + MASK
    assert mask_frame(OP_BINARY, b"", rsv1=True) == b"\xc2\x80" + MASK


@pytest.mark.parametrize("mask", [MASK, b"\x12\x34\x56\x78", b"\x00\x00\x00\x00"])
def test_mask_frame_matches_the_simple_encoder(mask: bytes) -> None:
    payloads = [b"", b"x", b"\x03\xe8", b"\x00\x00\xff", "héllo wörld".encode(), bytes(range(125))]
    for opcode, payload, fin, rsv1 in itertools.product(
        [0x0, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING], payloads, [True, False], [True, False]
    ):
        expected = reference_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=mask)
        assert mask_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=mask) == expected


def test_server_frame_is_the_unmasked_frame_websockets_parses() -> None:
    for payload in (b"", b"ready", b"x" * 125):
        data = server_frame(OP_TEXT, payload)
        assert data == bytes((0x81, len(payload))) + payload
        assert parse(data, mask=False).data == payload
    with pytest.raises(AssertionError):
        server_frame(OP_TEXT, b"x" * 126)


def test_churn_and_codec_use_the_one_encoder() -> None:
    """Run as scripts see it (bench/ first on sys.path); their frames are unchanged."""
    code = (
        "import json, churn, codec; "
        "print(json.dumps([codec.FRAME.hex(), codec.client_frame('abc').hex(), "
        "churn.mask_frame is codec.mask_frame, "
        "[churn.mask_frame(op, p, fin=f, rsv1=r).hex() for op, p, f, r in "
        "[(8, b'\\x03\\xe8', 1, 0), (2, b'', 0, 1), (0, b'', 0, 0), (0, b'', 1, 0), "
        "(2, b'x', 0, 0), (0, b'x', 0, 0), (0, b'x', 1, 0)]]]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(BENCH)!r}); {code}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    codec_frame, abc, same, churn_frames = json.loads(proc.stdout.splitlines()[-1])
    codec_mask = b"\x12\x34\x56\x78"
    assert bytes.fromhex(codec_frame) == reference_frame(OP_TEXT, b"x" * 64, mask=codec_mask)
    assert bytes.fromhex(abc) == reference_frame(OP_TEXT, b"abc", mask=codec_mask)
    assert same is True
    cases = [(8, b"\x03\xe8", 1, 0), (2, b"", 0, 1), (0, b"", 0, 0), (0, b"", 1, 0)]
    cases += [(2, b"x", 0, 0), (0, b"x", 0, 0), (0, b"x", 1, 0)]
    expected = [reference_frame(op, p, fin=bool(f), rsv1=bool(r)) for op, p, f, r in cases]
    assert [bytes.fromhex(frame) for frame in churn_frames] == expected
    for script in ("churn.py", "codec.py"):
        source = (BENCH / script).read_text()
        assert "from load.frames import" in source
        assert "enumerate(payload)" not in source  # no masking loop of its own


def test_close_code_in() -> None:
    assert close_code_in(b"") is None
    assert close_code_in(b"\x81\x02hi") is None
    assert close_code_in(b"\x88\x02\x03\xe8") == 1000
    assert close_code_in(b"\x81\x02hi\x88\x02\x03\xe9") == 1001
    assert close_code_in(b"\x88\x0b\x03\xf1too big!!") == 1009  # a reason after the code
    assert close_code_in(b"\x88\x00") is None  # no code in the frame
    assert close_code_in(b"\x88\x02\x03") is None  # cut short
    assert close_code_in(b"\x88\x02\x03\xe8\x88\x02\x0f\xa0") == 4000  # the last one


# -- percentiles and summaries ----------------------------------------------------------


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.0) == percentile([7.0], 0.99) == 7.0
    values = [float(n) for n in range(100, 0, -1)]  # 100 .. 1, not sorted
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 0.001) == 1.0
    assert values[0] == 100.0  # the input is not sorted in place
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.51) == 3.0


def test_latency_summary_in_milliseconds() -> None:
    empty = {"p50_ms": None, "p99_ms": None, "max_ms": None, "samples": 0}
    assert latency_summary([]) == empty
    assert latency_summary([0.003, 0.001, 0.002]) == {
        "p50_ms": 2.0,
        "p99_ms": 3.0,
        "max_ms": 3.0,
        "samples": 3,
    }
    summary = latency_summary([0.0001234567] * 99 + [2.5])
    assert summary == {"p50_ms": 0.123, "p99_ms": 0.123, "max_ms": 2500.0, "samples": 100}


# -- the /proc meters -------------------------------------------------------------------


def test_process_tree_rss_and_cpu() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        tree = meters.process_tree(os.getpid())
        assert tree[0] == os.getpid()
        assert child.pid in tree
        rss = meters.tree_rss_kib(os.getpid())
        assert rss["total_kib"] == sum(rss["per_process_kib"].values())
        assert rss["per_process_kib"][os.getpid()] > 1000
        assert child.pid in rss["per_process_kib"]
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    assert meters.tree_cpu_seconds(os.getpid()) >= meters.own_cpu_seconds() - 0.05
    assert meters.machine_busy_seconds() > 0
    assert isinstance(meters.listen_drops(), dict)


def test_cpu_meter_reports_shares_of_one_core() -> None:
    meter = meters.CpuMeter(os.getpid())
    deadline = meters.perf() + 0.2
    spins = 0
    while meters.perf() < deadline and spins < 50_000_000:  # busy: this process's CPU
        spins += 1
    result = meter.result()
    assert set(result) == {
        "cpu_client_percent",
        "cpu_server_percent",
        "cpu_server_s",
        "cpu_other_percent",
    }
    assert 5 <= result["cpu_client_percent"] <= 110  # (a busy machine leaves it less)
    assert result["cpu_server_percent"] is not None
    # The server here is this process: its seconds are at least most of the busy loop's.
    assert 0.05 <= result["cpu_server_s"] <= 5
    assert result["cpu_other_percent"] >= 0
    assert meters.CpuMeter(None).result()["cpu_server_percent"] is None
    assert meters.CpuMeter(None).result()["cpu_server_s"] is None


# -- the entry point --------------------------------------------------------------------


def test_loadclient_runs_by_path_from_anywhere(tmp_path: Path) -> None:
    """``python -P`` leaves the script's directory off sys.path: loadclient.py adds it.

    Nothing listens on the port: the echo scenario reports that, as JSON, at once.
    """
    cfg = {"scenario": "echo", "port": free_port(), "path": "/echo", "connections": 2}
    proc = subprocess.run(
        [sys.executable, "-P", str(BENCH / "loadclient.py"), json.dumps(cfg)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"ok", "error", "errors", "client_wall_s"}
    assert result["ok"] is False
    assert result["error"] == "no connection opened"
    assert result["errors"] == {"connect: ECONNREFUSED": 2}
    assert "echo: 0/2 connections open on /echo" in proc.stderr


def test_the_package_is_the_whole_client() -> None:
    """Every module is short; only the standard library is imported."""
    from load.scenarios import SCENARIOS

    assert list(SCENARIOS) == [
        "echo",
        "flood",
        "idle",
        "handshake",
        "broadcast",
        "storm",
        "resume",
        "render",
    ]
    modules = [BENCH / "loadclient.py", *sorted((BENCH / "load").rglob("*.py"))]
    for path in modules:
        assert len(path.read_text().splitlines()) < 400, path
    # -S: no site-packages at all (nothing installed is importable).
    code = (
        "import sys; before = set(sys.modules); sys.path.insert(0, sys.argv[1]); "
        "import loadclient, load.scenarios; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in "
        "sys.stdlib_module_names and m.split('.')[0] not in ('load', 'loadclient')))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(BENCH)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert frames.OP_TEXT == 1


# -- the report: figures per CPU-second and the targets ---------------------------------


def _record(case: str, target: str, **result: object) -> dict[str, object]:
    scenario = case.split("-", 1)[0]
    return {"case": case, "scenario": scenario, "target": target, "result": {"ok": True, **result}}


def test_report_divides_rates_by_the_server_cpu_and_the_storm_cpu_by_its_pages() -> None:
    import report

    derived = report.per_cpu({"msgs_per_s": 30_000.0, "cpu_server_percent": 50.0})
    assert derived["msgs_per_cpu_s"] == 60_000.0
    derived = report.per_cpu({"handshakes_per_s": 900.0, "cpu_server_percent": 90.0})
    assert derived["handshakes_per_cpu_s"] == 1000.0
    derived = report.per_cpu({"connections": 10_000, "cpu_server_s": 13.7})
    assert derived["cpu_ms_per_page"] == 1.37
    # No server CPU measured: nothing is made up.
    assert "msgs_per_cpu_s" not in report.per_cpu({"msgs_per_s": 1.0, "cpu_server_percent": None})


def test_report_targets_compare_djws_with_the_floor_ws_and_raw_in_the_same_run() -> None:
    import report

    records = [
        # Django's own work: 500 µs a request; gevent-websocket: 250 µs a handshake.
        _record("django-anon", "djws", us_per_request=500.0),
        _record("handshake-anon", "raw", handshakes_per_s=4000.0, cpu_server_percent=100.0),
        # djws: 1,200 per CPU-second, the floor 1e6 / 750 = 1,333: 0.9 of it.
        _record("handshake-anon", "djws", handshakes_per_s=600.0, cpu_server_percent=50.0),
        _record("echo", "djws", msgs_per_s=40_000.0, cpu_server_percent=100.0),
        _record("echo", "ws", msgs_per_s=30_000.0, cpu_server_percent=50.0),
        _record("echo", "bare", msgs_per_s=44_000.0, cpu_server_percent=100.0),
        _record("idle", "djws", rss_per_conn_kib=23.0),
        _record("idle-anon", "djws", rss_per_conn_kib=21.0),
        _record("broadcast-5000", "djws", p99_ms=90.0, lost=0),
        _record("broadcast-5000", "raw", p99_ms=100.0, lost=0),
        # djws through a backend with its history (run.py's --broadcast-url), named by it.
        _record("broadcast-postgresql-5000", "djws", p99_ms=120.0, lost=3),
        _record("broadcast-redis-1000", "djws", p99_ms=20.0, lost=0),
        _record("storm", "djws", connections=10_000, cpu_server_s=9.0, all_back_s=4.0),
    ]
    met = {c["target"]: (c["measured"], c["met"]) for c in report.goals(report.summarize(records))}
    assert met["handshakes/s without a cookie: djws per CPU-second / that floor"] == (0.9, True)
    assert met["echo messages per server CPU-second, djws / Node.js ws"] == (0.67, False)
    floor = "echo messages per server CPU-second, djws / bare gevent sockets (the floor)"
    assert met[floor] == (0.91, True)
    assert met["idle, logged in: RSS per connection (KiB), djws"] == (23.0, True)
    assert met["idle, no cookie: RSS per connection (KiB), djws"] == (21.0, False)
    assert met["broadcast-5000: p99, djws / raw gevent-websocket in-process"] == (0.9, True)
    assert met["reconnect storm: worker CPU per page back and caught up (ms)"] == (0.9, False)
    on_postgresql = "broadcast-5000: p99, djws on PostgreSQL with history / raw gevent-websocket"
    assert met[on_postgresql + " in-process"] == (1.2, False)
    assert met["broadcast-postgresql-5000: lost deliveries, djws"] == (3, False)
    assert met["broadcast-redis-1000: p99 fan-out latency (ms), djws"] == (20.0, True)
    assert not any("redis-5000" in target for target in met)
    # The tables divide djws by bare where the run has it, as by the peers.
    ratios = report.ratios(report.summarize(records))
    assert ratios["echo"]["djws/bare"]["msgs_per_cpu_s"] == 0.909
    assert "djws/bare" not in ratios["broadcast-5000"]


def test_report_ratio_targets_are_the_median_of_each_repetitions_ratio() -> None:
    """A run's repetitions are a quarter of an hour apart, and the machine's speed moves
    between them: a ratio is taken within each repetition, then the median of those."""
    import report

    records = []
    for djws, ws, raw in (
        (30_000.0, 60_000.0, 4000.0),
        (60_000.0, 50_000.0, 2000.0),
        (90_000.0, 100_000.0, 3000.0),
    ):
        records.append(_record("echo", "djws", msgs_per_s=djws, cpu_server_percent=100.0))
        records.append(_record("echo", "ws", msgs_per_s=ws, cpu_server_percent=100.0))
        # The floor: 500 µs of Django + 1e6 / raw µs of gevent-websocket.
        records.append(_record("django-anon", "djws", us_per_request=500.0))
        records.append(
            _record("handshake-anon", "raw", handshakes_per_s=raw, cpu_server_percent=100.0)
        )
        records.append(
            _record("handshake-anon", "djws", handshakes_per_s=raw / 4, cpu_server_percent=100.0)
        )
    checks = report.goals(report.summarize(records))
    met = {c["target"]: c for c in checks}
    echo = met["echo messages per server CPU-second, djws / Node.js ws"]
    # The medians' ratio would be 60,000 / 60,000 = 1.0; the repetitions say 0.5, 1.2, 0.9.
    assert (echo["measured"], echo["repetitions"], echo["met"]) == (0.9, [0.5, 1.2, 0.9], True)
    floor = met["handshakes/s without a cookie: djws per CPU-second / that floor"]
    # (raw / 4) * (500 µs + 1e6 / raw µs) / 1e6: 0.75, 0.5 and 0.625.
    assert (floor["measured"], floor["repetitions"]) == (0.62, [0.75, 0.5, 0.62])
    # Without the peer, the row says so.
    assert met["broadcast-5000: p99, djws / raw gevent-websocket in-process"]["met"] is None
    assert "echo messages per server CPU-second, djws / bare gevent sockets (the floor)" not in met
    meta = {
        "args": {"repetitions": 3},
        "machine": {"cpus": 2, "cpu_model": "?", "python": "3"},
        "pinning": {"server_cpu": 0, "client_cpu": 1},
        "repository": {"commit": "0" * 40, "dirty": False},
        "command": "bench/run.py",
    }
    summary = report.summarize(records)
    table = report.markdown(meta, summary, report.ratios(summary), checks)
    assert (
        "| echo messages per server CPU-second, djws / Node.js ws | >= 0.8 "
        "| 0.90 (0.50, 1.20, 0.90) | yes |" in table
    )
