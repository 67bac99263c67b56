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

from collections.abc import Iterator

import pytest
from celery import Celery

from .support import join, run_server, unique_prefix, wait_for
from .support.celery import BROKER, PUBLISH, celery_worker, new_queue, sender

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def queue() -> str:
    """A queue of this test run's own on the shared RabbitMQ (it fails if none runs)."""
    return new_queue()


@pytest.fixture(scope="module")
def client(queue: str) -> Iterator[Celery]:
    """The sending side (:func:`sender`)."""
    with sender(queue) as app:
        yield app


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
