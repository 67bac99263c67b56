"""Celery for the tests: a sending app on a queue of the run's own, and a real worker.

The broker is the machine's RabbitMQ (127.0.0.1:5672, guest/guest); the worker
runs the test project's tasks (``testproject.celery_app``) in a process of its own.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Exchange, Queue

from .servers import PROJECT, project_env

__all__ = ["BROKER", "PUBLISH", "celery_worker", "new_queue", "sender"]

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
PUBLISH = "testproject.publish"
#: ``celery ARGS``: one process, no cluster chatter (this test runs one worker).
WORKER = [
    "-A",
    "testproject.celery_app",
    "worker",
    "--pool",
    "solo",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
    "--loglevel",
    "INFO",
]


def new_queue() -> str:
    """A queue of this test run's own on the shared RabbitMQ (it fails if none runs)."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not running on 127.0.0.1:5672 ({exc}): the Celery test needs it")
    return f"djws-test-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def sender(queue: str) -> Iterator[Celery]:
    """The sending side, as a web process would hold it: the broker and the queue, no tasks."""
    app = Celery("sender", broker=BROKER, backend="rpc://")
    exchange = Exchange(queue, type="direct", durable=False, auto_delete=True)
    app.conf.update(
        task_queues=[Queue(queue, exchange, routing_key=queue, durable=False, auto_delete=True)],
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
    )
    try:
        yield app
    finally:
        app.close()


@contextlib.contextmanager
def celery_worker(env: dict[str, str], timeout: float = 60.0) -> Iterator[list[str]]:
    """A ``celery worker`` process of the test project, stopped (warm shutdown) after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", *WORKER],
        cwd=PROJECT,
        env=project_env(DJANGO_SETTINGS_MODULE="testproject.settings", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if " ready." in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(timeout) or process.poll() is not None:
            raise AssertionError("the Celery worker did not start:\n" + "".join(output))
        yield output
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
