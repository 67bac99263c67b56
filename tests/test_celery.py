"""Publishing from a Celery task: a real worker, a real broker, a real socket.

The test starts ``celery -A testproject.celery_app worker --pool solo`` (the
test project's Celery application) on the machine's RabbitMQ, with a queue of
its own, and a ``runwebsocket`` server; a task sent to the worker calls
``broadcast.publish()`` and a socket that joined the group receives the
message. Twice: with Redis between the processes, and with ``local://`` (the
default), where the Celery worker publishes through the Unix socket of
``runwebsocket``'s worker on this machine.
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

from .support import PROJECT, project_env, run_server
from .test_broadcast_memory import join, unique_prefix, wait_for

pytestmark = pytest.mark.redis

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


@pytest.fixture(scope="module")
def queue() -> str:
    """A queue of this test run's own on the shared RabbitMQ (it fails if none runs)."""
    return new_queue()


@pytest.fixture(scope="module")
def client(queue: str) -> Iterator[Celery]:
    """The sending side (:func:`sender`)."""
    with sender(queue) as app:
        yield app


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


@pytest.mark.parametrize("backend", ["redis", "local"])
def test_a_celery_task_publishes_to_a_group_and_an_open_socket_receives_it(
    backend: str, queue: str, client: Celery
) -> None:
    env = {"DJWS_TEST_CELERY_QUEUE": queue, "DJWS_TEST_CELERY_BROKER": BROKER}
    if backend == "redis":
        env["DJWS_TEST_BROADCAST_URL"] = "redis://127.0.0.1:6379/0"
        env["DJWS_TEST_BROADCAST_PREFIX"] = unique_prefix()
    else:
        env["DJWS_TEST_BROADCAST_URL"] = "local://"
    with (
        run_server(env=env) as server,
        celery_worker(env) as worker_log,
        join(server, "from-celery") as member,
        join(server, "from-celery") as other,
    ):
        result = client.send_task(PUBLISH, args=["from-celery", "export ready"])
        position = result.get(timeout=30)  # the task's return value: publish()'s position
        assert member.recv(timeout=10) == "export ready"
        assert other.recv(timeout=10) == "export ready"
        assert position.split(":")[1] == "1"
        result = client.send_task(PUBLISH, args=["from-celery", {"n": 2}])
        assert result.get(timeout=30).endswith(":2")
        assert member.recv(timeout=10) == '{"n": 2}'
        # Celery logs a task's success after storing its result, read above already.
        succeeded = f"Task {PUBLISH}[{result.id}] succeeded"
        wait_for(
            lambda: succeeded in "".join(worker_log), 10, f"the worker never logged {succeeded}"
        )
    assert "Traceback" not in server.log(), server.log()
