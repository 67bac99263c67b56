"""The test project's Celery application (tests/test_celery.py).

Run by the test as a real worker::

    celery -A testproject.celery_app worker --pool solo

``DJWS_TEST_CELERY_BROKER`` is the broker (the machine's RabbitMQ by default),
``DJWS_TEST_CELERY_QUEUE`` the queue (and its exchange): one per test run,
deleted by RabbitMQ once its last consumer goes (``auto_delete``), so runs
sharing the broker neither see each other's tasks nor leave anything behind
(remote control is off: no ``celery.pidbox`` exchange either). Results come
back over the broker too (``rpc://``), so a test sees a task's exception.
"""

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

QUEUE = os.environ.get("DJWS_TEST_CELERY_QUEUE", "djws-tests")

app = Celery(
    "testproject",
    broker=os.environ.get("DJWS_TEST_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
    backend="rpc://",
)


def queues(name):
    """The queue of a test run, on an exchange of its own; both vanish after the run."""
    exchange = Exchange(name, type="direct", durable=False, auto_delete=True)
    return [Queue(name, exchange, routing_key=name, durable=False, auto_delete=True)]


app.conf.update(
    task_queues=queues(QUEUE),
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    worker_enable_remote_control=False,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="testproject.publish")
def publish(group, message):
    """Publish ``message`` to ``group``, as an application's task would; return its position."""
    from djws import broadcast

    return str(broadcast.publish(group, message))


@app.task(name="testproject.live_publish")
def live_publish(stream, text):
    """Append ``text`` to a stream's Turbo pages, as an application's task would."""
    from django.utils.html import format_html

    from djws import live
    from djws.live import turbo

    return str(live.publish(stream, turbo.append("messages", format_html("<li>{}</li>", text))))


@app.task(name="testproject.live_create")
def live_create(stream, text):
    """Save a Message: its broadcasts_to publishes it."""
    from .models import Message

    return Message.objects.create(stream=stream, text=text).pk
