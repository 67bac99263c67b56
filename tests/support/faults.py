"""Fault injection helpers: a Redis server of the test's own, a publisher process,
and members of a group on both workers of a server.

Tests never stop the machine's shared Redis: they start their own on a free
loopback port and kill, stop or restart that one, by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from websockets.sync.client import ClientConnection, connect

from .servers import PROJECT, Server, free_port, project_env
from .wait import wait_for

__all__ = [
    "PUBLISHER",
    "PrivateRedis",
    "Publisher",
    "collect",
    "start_publisher",
    "subscribers_on_both_workers",
]


class PrivateRedis:
    """A redis-server without persistence, on a free port, owned by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start (again, on the same port): it comes back empty."""
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_for(client.ping, 10, "the private Redis answering PING", ignoring=(redis.RedisError,))

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no goodbye, nothing saved."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


#: Publishes COUNT numbered messages to GROUP at RATE per second; prints one JSON line each.
PUBLISHER = r"""
import json, sys, time
import django
django.setup()
from djws import broadcast
group, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
for n in range(count):
    try:
        position = str(broadcast.publish(group, str(n)))
    except broadcast.PublishError as exc:
        position = None
    print(json.dumps([n, position]), flush=True)
    time.sleep(max(0.0, start + (n + 1) / rate - time.monotonic()))
"""


@dataclass
class Publisher:
    """A publisher process and what it reported."""

    process: subprocess.Popen[str]
    lines: list[Any] = field(default_factory=list)

    def wait(self, timeout: float) -> None:
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        self.lines = [json.loads(line) for line in out.splitlines()]

    @property
    def stored(self) -> list[int]:
        """The messages whose publish() returned a position."""
        return [n for n, position in self.lines if position is not None]

    @property
    def epochs(self) -> dict[str, list[int]]:
        """The stored messages by the epoch publish() numbered them in, in order."""
        found: dict[str, list[int]] = {}
        for n, position in self.lines:
            if position is not None:
                found.setdefault(position.rpartition(":")[0], []).append(n)
        return found

    @property
    def failed(self) -> list[int]:
        return [n for n, position in self.lines if position is None]


def start_publisher(group: str, count: int, rate: float, env: dict[str, str]) -> Publisher:
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, group, str(count), str(rate)],
        cwd=PROJECT,
        env=project_env(DJANGO_SETTINGS_MODULE="testproject.settings", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Publisher(process)


def collect(
    ws: Any,
    expected: list[int],
    attempted: int,
    timeout: float,
    resets: list[int] | None = None,
) -> list[int]:
    """Read numbered messages until every one of ``expected`` came (or ``timeout``).

    Envelopes (``?djws=1``) are read too: a reset appends to ``resets`` how many
    messages had come before it.
    """
    received: list[int] = []
    missing = set(expected)
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        try:
            message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        if message.startswith("{"):
            envelope = json.loads(message)
            if envelope["djws"] == "reset":
                assert resets is not None, message
                resets.append(len(received))
                continue
            message = envelope["data"]
        number = int(message)
        assert 0 <= number < attempted, message
        received.append(number)
        missing.discard(number)
    return received


# SIGSTOP and SIGCONT, by name, for readable parametrization.
STOP, CONT = signal.SIGSTOP, signal.SIGCONT


@contextlib.contextmanager
def subscribers_on_both_workers(
    server: Server, group: str, count: int, query: str = ""
) -> Iterator[list[ClientConnection]]:
    """``count`` members of ``group``, spread over the server's two workers."""
    url = f"{server.url}/broadcast/member/{group}/{query}"
    with contextlib.ExitStack() as stack:
        members, pids = [], set()
        for _ in range(count * 3):
            ws = stack.enter_context(connect(url, open_timeout=10, max_queue=None))
            if query:  # the hub's envelope comes first, then the view's word
                assert json.loads(ws.recv(timeout=10))["djws"] == "joined"
            assert ws.recv(timeout=10) == "joined"
            ws.send("pid")
            pids.add(ws.recv(timeout=10))
            members.append(ws)
            if len(members) >= count and len(pids) == 2:
                break
        assert len(pids) == 2, "every connection went to one worker"
        yield members
