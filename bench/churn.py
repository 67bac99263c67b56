"""Measure a worker's memory through connection churn, and its collector pauses.

Starts the test project's server (``tests/project``: ``manage.py runwebsocket
--noreload``, ``DEBUG`` off, one worker) and, with the ``websockets`` client of the
repository's virtualenv:

``churn``
    ``--rounds`` rounds of (open ``--connections`` connections to ``/echo/``,
    echo one message on each, close), at most ``--concurrency`` open at once;
    prints the worker's RSS after each round and the ratio of the last round
    to round 3. ``--deflate`` offers permessage-deflate (the server accepts it).
``pauses``
    asks the worker's diagnostic view ``/memory/gc/start/`` to time every
    collection (``gc.callbacks``; ``--thresholds`` and ``--unfreeze`` change the
    worker's collector settings first), opens ``--connections`` connections to
    ``/echo/``, keeps them open for ``--seconds`` while 50 of them echo, and
    reports the collections and the longest pause per generation, while opening
    and then while holding them (``/memory/gc/report/``), the objects the
    collector tracks, and what one full collection costs at that size.

Usage::

    .venv/bin/python bench/churn.py churn --rounds 20 --connections 1000 [--deflate]
    .venv/bin/python bench/churn.py pauses --connections 10000 --seconds 20

Runs on 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from load.frames import mask_frame  # bench/load/: this script's directory is on sys.path
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "tests" / "project"
URL_RE = re.compile(r"ws://127\.0\.0\.1:(\d+)/")
# The SQLite database of the servers this run starts; removed when it ends.
WORKDIR = tempfile.TemporaryDirectory(prefix="djws-churn-")


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def start_server(env: dict[str, str], *options: str) -> tuple[subprocess.Popen[str], int, int]:
    """Start the test project's server; return it, its port and its worker's PID."""
    database = env.get("DJWS_TEST_SQLITE") or str(Path(WORKDIR.name) / "db.sqlite3")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJWS_TEST_DEBUG": "0", **env}
    env["DJWS_TEST_SQLITE"] = database
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=PROJECT,
        env=env,
        check=True,
        timeout=120,
    )
    command = [sys.executable, "manage.py", "runwebsocket", "--noreload", "--connections"]
    process = subprocess.Popen(
        [*command, "20000", *options, "127.0.0.1:0"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120  # tracing every allocation makes the start slow
    port = None
    while port is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if match := URL_RE.search(line):
            port = int(match.group(1))
    if port is None:
        process.kill()
        raise RuntimeError("the server did not start")
    children: list[str] = []
    while not children and time.monotonic() < deadline:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        time.sleep(0.05)
    # Drain the server's output so that it never blocks on a full pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, port, int(children[0])


def stop_server(process: subprocess.Popen[str]) -> None:
    """SIGTERM the server and wait for it (SIGKILL after 15 s)."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def echo_once(url: str, compression: str | None, index: int) -> None:
    """Open one connection, echo one message, close."""
    async with connect(url, compression=compression, open_timeout=30, close_timeout=10) as ws:
        message = f"message {index}"
        await ws.send(message)
        reply = await asyncio.wait_for(ws.recv(), 30)
        if reply != message:
            raise AssertionError(f"sent {message!r}, got {reply!r}")


async def churn_round(url: str, connections: int, concurrency: int, deflate: bool) -> None:
    """Run one round: ``connections`` echoes, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)
    compression = "deflate" if deflate else None

    async def one(index: int) -> None:
        async with gate:
            await echo_once(url, compression, index)

    await asyncio.gather(*(one(n) for n in range(connections)))


def churn(args: argparse.Namespace) -> dict[str, Any]:
    """Measure RSS round after round of churn."""
    process, port, worker = start_server({})
    url = f"ws://127.0.0.1:{port}/echo/"
    rss = []
    try:
        start = rss_kib(worker)
        for n in range(args.rounds):
            began = time.monotonic()
            asyncio.run(churn_round(url, args.connections, args.concurrency, args.deflate))
            time.sleep(args.settle)
            rss.append(rss_kib(worker))
            print(
                f"round {n + 1:2d}: {rss[-1] / 1024:7.1f} MiB ({time.monotonic() - began:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    finally:
        stop_server(process)
    third = rss[2] if len(rss) >= 3 else rss[0]
    return {
        "deflate": args.deflate,
        "start_mib": round(start / 1024, 1),
        "rss_mib": [round(value / 1024, 1) for value in rss],
        "last_over_round_3": round(rss[-1] / third, 3),
    }


async def hold(url: str, count: int, concurrency: int) -> list[Any]:
    """Open ``count`` connections (``concurrency`` handshakes at a time) and return them."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> Any:
        async with gate:
            return await connect(url, compression=None, open_timeout=60, ping_interval=None)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def probe(base: str, path: str) -> dict[str, Any]:
    """Ask one of the worker's diagnostic views; return its JSON answer."""
    async with connect(f"{base}{path}", compression=None, open_timeout=60) as ws:
        return dict(json.loads(await asyncio.wait_for(ws.recv(), 120)))


async def pauses_async(args: argparse.Namespace, port: int, worker: int) -> dict[str, Any]:
    base = f"ws://127.0.0.1:{port}"
    query = []
    if args.thresholds:
        query.append(f"thresholds={args.thresholds}")
    if args.unfreeze:
        query.append("unfreeze=1")
    settings = await probe(base, "/memory/gc/start/?" + "&".join(query))
    before = rss_kib(worker)
    began = time.monotonic()
    held = await hold(f"{base}/echo/", args.connections, 100)
    opened = time.monotonic() - began
    time.sleep(1.0)
    rss = rss_kib(worker)
    opening = await probe(base, "/memory/gc/report/")

    async def chatter(ws: Any) -> None:
        deadline = time.monotonic() + args.seconds
        n = 0
        while time.monotonic() < deadline:
            await ws.send(f"ping {n}")
            await asyncio.wait_for(ws.recv(), 30)
            n += 1
            await asyncio.sleep(0.001)

    await asyncio.gather(*(chatter(ws) for ws in held[:50]))
    steady = await probe(base, "/memory/gc/report/?collect=1")
    await asyncio.gather(*(ws.close() for ws in held))
    return {
        "connections": args.connections,
        "settings": settings,
        "open_seconds": round(opened, 1),
        "kib_per_connection": round((rss - before) / args.connections, 1),
        "while_opening": opening,
        "steady": steady,
    }


def pauses(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the collector's pauses with many connections open."""
    process, port, worker = start_server({})
    try:
        return asyncio.run(pauses_async(args, port, worker))
    finally:
        stop_server(process)


def raw_upgrade(port: int, deflate: bool) -> socket.socket:
    """Open a WebSocket to ``/echo/`` on a plain socket; return it after the 101."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    extensions = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    sock.sendall(
        (
            "GET /echo/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extensions}\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"closed during the handshake: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode("latin-1"))
    return sock


def send_and_watch(sock: socket.socket, frames: Iterable[bytes], worker: int) -> dict[str, Any]:
    """Send ``frames`` in 64 KiB writes; return the worker's peak RSS and its close frame."""
    peaks = [rss_kib(worker)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            with contextlib.suppress(OSError):
                peaks.append(max(peaks[-1], rss_kib(worker)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    answer = b""
    batch = bytearray()
    sent = 0
    sock.settimeout(60)
    try:
        for frame in frames:
            batch += frame
            if len(batch) < 65536:
                continue
            sock.sendall(batch)
            sent += len(batch)
            batch.clear()
            if sent % (1 << 20) < 65536:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    answer += sock.recv(4096)
                if answer:
                    break
        else:
            sock.sendall(batch)
            sent += len(batch)
    except (BrokenPipeError, ConnectionResetError):
        pass
    with contextlib.suppress(OSError):
        while len(answer) < 2:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    done.set()
    sampler.join()
    result: dict[str, Any] = {"sent_mb": round(sent / 1e6, 1), "peak_kib": peaks[-1]}
    if answer[:1] == b"\x88":
        with contextlib.suppress(OSError):
            while len(answer) < 2 + answer[1] and (chunk := sock.recv(4096)):
                answer += chunk
        code = int.from_bytes(answer[2:4], "big")
        result["close"] = [code, answer[4 : 2 + answer[1]].decode(errors="replace")]
    else:
        result["answer"] = answer[:1].hex() or "nothing"
    return result


def framing(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the worker's growth under hostile framing, case by case."""
    process, port, worker = start_server({})
    results = {}
    try:
        cases = {
            "one-byte fragments": (False, args.fragments),
            "empty compressed continuations": (True, args.empty),
        }
        for name, (deflate, count) in cases.items():
            with contextlib.closing(raw_upgrade(port, False)) as warm:  # warm the worker up
                warm.sendall(mask_frame(0x8, b"\x03\xe8"))
                warm.recv(64)
            before = rss_kib(worker)
            sock = raw_upgrade(port, deflate)
            if deflate:
                frames = itertools.chain(
                    [mask_frame(0x2, b"", fin=False, rsv1=True)],
                    itertools.repeat(mask_frame(0x0, b"", fin=False), count - 2),
                    [mask_frame(0x0, b"")],
                )
            else:
                frames = itertools.chain(
                    [mask_frame(0x2, b"x", fin=False)],
                    itertools.repeat(mask_frame(0x0, b"x", fin=False), count - 2),
                    [mask_frame(0x0, b"x")],
                )
            result = send_and_watch(sock, frames, worker)
            sock.close()
            result["frames"] = count
            result["growth_mib"] = round((result.pop("peak_kib") - before) / 1024, 1)
            results[name] = result
            print(f"{name}: {result}", file=sys.stderr, flush=True)
    finally:
        stop_server(process)
    return results


async def idle_async(args: argparse.Namespace, port: int, worker: int) -> dict[str, Any]:
    base = f"ws://127.0.0.1:{port}"
    expected, headers = "anonymous", {}
    if not args.anonymous:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/idle/", timeout=30) as response:
            cookies = response.headers.get_all("Set-Cookie") or []
        expected = "idle"
        headers["Cookie"] = "; ".join(header.split(";", 1)[0] for header in cookies)
    gate = asyncio.Semaphore(50)

    async def one() -> Any:
        async with gate:
            ws = await connect(
                f"{base}/whoami/",
                compression=None,
                open_timeout=60,
                ping_interval=None,
                additional_headers=headers,
            )
            if (name := await asyncio.wait_for(ws.recv(), 60)) != expected:
                raise AssertionError(f"{name!r} instead of {expected!r} with {headers!r}")
            return ws

    async def open_many(count: int) -> list[Any]:
        return list(await asyncio.gather(*(one() for _ in range(count))))

    held = await open_many(args.connections)
    time.sleep(2)
    first = rss_kib(worker)
    if args.tracemalloc:
        await probe(base, "/memory/snapshot/?take=1")
    held += await open_many(args.connections)
    time.sleep(2)
    second = rss_kib(worker)
    report: dict[str, Any] = {}
    if args.tracemalloc:
        report = await probe(base, f"/memory/snapshot/?group={args.group}&top={args.top}")
    await asyncio.gather(*(ws.close() for ws in held))
    report["kib_per_connection"] = round((second - first) / args.connections, 2)
    return report


def idle(args: argparse.Namespace) -> dict[str, Any]:
    """Measure what one more idle connection (logged in, or not) costs the worker."""
    # One user holds every connection: the per-user and per-address limits are off.
    env = {"DJWS_TEST_LIMITS": '{"connections_per_user": null, "connections_per_address": null}'}
    if args.tracemalloc:
        env["PYTHONTRACEMALLOC"] = str(args.tracemalloc)
    process, port, worker = start_server(env, "--http")
    try:
        return asyncio.run(idle_async(args, port, worker))
    finally:
        stop_server(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    churn_parser = sub.add_parser("churn")
    churn_parser.add_argument("--rounds", type=int, default=20)
    churn_parser.add_argument("--connections", type=int, default=1000)
    churn_parser.add_argument("--concurrency", type=int, default=100)
    churn_parser.add_argument("--deflate", action="store_true")
    churn_parser.add_argument("--settle", type=float, default=0.5)
    pauses_parser = sub.add_parser("pauses")
    pauses_parser.add_argument("--connections", type=int, default=10000)
    pauses_parser.add_argument("--seconds", type=float, default=20.0)
    pauses_parser.add_argument("--thresholds", default="", help="A,B,C: set before opening")
    pauses_parser.add_argument("--unfreeze", action="store_true", help="undo gc.freeze() first")
    idle_parser = sub.add_parser("idle")
    idle_parser.add_argument("--connections", type=int, default=1000)
    idle_parser.add_argument("--anonymous", action="store_true", help="no session cookie")
    idle_parser.add_argument("--tracemalloc", type=int, default=0, help="frames to trace")
    idle_parser.add_argument("--group", default="lineno", choices=["lineno", "traceback"])
    idle_parser.add_argument("--top", type=int, default=30)
    framing_parser = sub.add_parser("framing")
    framing_parser.add_argument("--fragments", type=int, default=1_000_000)
    framing_parser.add_argument("--empty", type=int, default=2_000_000)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    commands = {"churn": churn, "pauses": pauses, "idle": idle, "framing": framing}
    result = commands[args.command](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
