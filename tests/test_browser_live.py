"""Live pages in Chromium with the real htmx 2, htmx 4 and Turbo: forms, publishes, resumes.

The test project's pages (``testproject.live``, tests/support/live.py):

* an htmx form posted over the page's WebSocket is validated by a Django form
  on the server; the error appears under the field, what htmx sent arrives as
  the exact QueryDict, and a valid post appears in two windows;
* a Turbo page gets what a ``runserver`` view, a Celery task and a model
  signal publish, in two windows (the default ``local://`` backend: all three
  publish through ``runwebsocket``'s socket on this machine);
* two users see their own fragments, rendered for each;
* htmx 2, htmx 4 and Turbo pages (over WebSocket and SSE) lose their network
  while the server restarts and a process publishes; back, they show every
  message once, in order (Redis keeps the history); with ``local://`` the
  restart loses it, and the pages are told so: they reload.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .support import free_port, start_server, unique_prefix, wait_for
from .support.celery import BROKER, celery_worker, new_queue, sender
from .support.faults import PrivateRedis
from .support.live import (
    count_loads,
    expect_listening,
    get,
    live_site,
    publisher,
    shown,
    wait_published,
)

pytestmark = pytest.mark.browser

_streams = itertools.count()
COUNT = 30  # messages published through a restart, 10 a second


def new_stream(kind: str) -> str:
    return f"{kind}-{next(_streams)}"


@pytest.fixture(scope="module")
def site() -> Iterator[Any]:
    site = live_site()
    try:
        yield site
    finally:
        site.stop()


def login(page: Page, site: Any, username: str) -> None:
    page.goto(f"{site.url}/login/{username}/")
    expect(page.locator("body")).to_have_text(f"logged in as {username}")


# Forms over htmx's WebSocket


@pytest.mark.parametrize("version", [2, 4])
def test_an_htmx_form_is_validated_by_django_and_a_post_reaches_two_windows(
    site: Any, open_page: Any, version: int
) -> None:
    url = f"{site.url}/live/htmx/{version}/"
    writer, reader = open_page(url), open_page(url)
    expect_listening(writer)
    expect_listening(reader)
    writer.check("input[value=red]")
    writer.check("input[value=blue]")
    writer.select_option("#id_sizes", ["s", "l"])
    writer.click("#send")
    # The error, under its field, linked to it.
    expect(writer.locator("#title-errors")).to_have_text("This field is required.")
    expect(writer.locator("#id_title")).to_have_attribute("aria-describedby", "title-errors")
    expect(writer.locator("#id_title")).to_have_attribute("aria-invalid", "true")
    read = json.loads(writer.text_content("#read") or "")
    assert read == {
        "version": version,
        "data": {"send": ["yes"], "sizes": ["s", "l"], "tags": ["red", "blue"], "title": [""]},
        "trigger": "note-form",
        "trigger_name": None,
        "target": "note-form",
        "current_url": url,
    }
    writer.fill("#id_title", "A note & more")
    writer.press("#id_title", "Enter")
    expect(writer.locator("#notes li")).to_have_text(["A note & more"])
    expect(reader.locator("#notes li")).to_have_text(["A note & more"])
    expect(writer.locator("#title-errors")).to_have_count(0)  # the form came back cleared
    expect(writer.locator("#id_title")).to_have_value("")
    expect(reader.locator("#read")).to_have_text("")  # what was read went to the sender only


# Publishing from a runserver view, a Celery task, a model signal


def test_a_runserver_view_a_celery_task_and_a_model_signal_update_two_windows(
    open_page: Any,
) -> None:
    queue = new_queue()
    env = {
        "DJWS_TEST_BROADCAST_URL": "local://",
        "DJWS_TEST_CELERY_QUEUE": queue,
        "DJWS_TEST_CELERY_BROKER": BROKER,
    }
    site = live_site(env)
    port = free_port()
    runserver = start_server(
        f"127.0.0.1:{port}",
        env=env,
        command=[sys.executable, "manage.py", "runserver", "--noreload"],
    )
    stream = new_stream("three-ways")
    try:
        with sender(queue) as tasks, celery_worker(env):
            pages = [open_page(f"{site.url}/live/turbo/{stream}/") for _ in range(2)]
            for page in pages:
                expect_listening(page)
            # A view of runserver: another process, publishing through runwebsocket's socket.
            get(f"http://127.0.0.1:{port}/live/publish/{stream}/?text=from%20runserver")
            # A Celery task, in the Celery worker.
            result = tasks.send_task("testproject.live_publish", args=[stream, "from celery"])
            result.get(timeout=30)
            # A model saved (here by a task): broadcasts_to publishes it after the commit.
            result = tasks.send_task("testproject.live_create", args=[stream, "from a model"])
            pk = result.get(timeout=30)
            for page in pages:
                expect(page.locator("#messages li")).to_have_text(
                    ["from runserver", "from celery", "from a model"]
                )
                expect(page.locator(f"#message-{pk}")).to_have_text("from a model")
            # Saved again, from runserver's view of the same model: replaced in place.
            get(f"http://127.0.0.1:{port}/live/create/{stream}/?text=another")
            for page in pages:
                expect(page.locator("#messages li")).to_have_count(4)
    finally:
        runserver.stop(signal.SIGINT)
        site.stop()


# Fragments per user


def test_two_users_see_their_own_fragments(site: Any, open_page: Any) -> None:
    stream = new_stream("personal")
    pages = {}
    for name in ("alice", "bob"):
        page = open_page(None)
        login(page, site, name)
        page.goto(f"{site.url}/live/turbo/{stream}/")
        expect_listening(page)
        pages[name] = page
    stranger = open_page(f"{site.url}/live/turbo/{stream}/")
    expect_listening(stranger)
    get(f"{site.url}/live/personal/{stream}/?n=1")
    expect(pages["alice"].locator("#messages li")).to_have_text(["Hello alice: 1"])
    expect(pages["bob"].locator("#messages li")).to_have_text(["Hello bob: 1"])
    expect(stranger.locator("#messages li")).to_have_text(["Hello stranger: 1"])
    # A user's pages get the HTML of a notification; nobody else's do.
    get(f"{site.url}/live/notify/alice/?text=for%20alice")
    expect(pages["alice"].locator("#notifications li")).to_have_text(["for alice"])
    time.sleep(0.5)
    assert shown(pages["bob"], "#notifications li") == []


# Through a restart


@pytest.fixture
def redis_site(private_redis: PrivateRedis) -> Iterator[Any]:
    env = {
        "DJWS_TEST_BROADCAST_URL": private_redis.url,
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
    }
    site = live_site(env)
    try:
        yield site
    finally:
        site.stop()


PAGES = {
    "htmx 2": ("/live/htmx/2/{stream}/", "htmx"),
    "htmx 4": ("/live/htmx/4/{stream}/", "htmx"),
    "Turbo, WebSocket": ("/live/turbo/{stream}/", "turbo"),
    "Turbo, SSE": ("/live/turbo/{stream}/?transport=sse", "turbo"),
}


@pytest.mark.parametrize("kind", list(PAGES))
def test_a_page_shows_every_message_once_in_order_through_a_restart(
    redis_site: Any, open_page: Any, kind: str
) -> None:
    path, format = PAGES[kind]
    stream = new_stream("restart")
    page = open_page(redis_site.url + path.format(stream=stream))
    expect_listening(page)
    with publisher(stream, COUNT, redis_site.env, format=format) as process:
        wait_for(lambda: len(shown(page)) >= 3, 20, "the first messages never arrived")
        # The page's network drops and the server restarts: the page is away until
        # the publisher is done (a stopping server must not serve it meanwhile).
        page.context.set_offline(True)
        redis_site.stop()
        assert len(shown(page)) < COUNT // 2  # most are published while it is away
        time.sleep(1.0)
        redis_site.start()
        wait_published(process, COUNT)
    page.context.set_offline(False)
    expected = [f"m{i}" for i in range(COUNT)]
    expect(page.locator("#messages li").last).to_have_text(expected[-1], timeout=30_000)
    assert shown(page) == expected
    assert count_loads(page) == 1  # never reloaded


@pytest.mark.parametrize("kind", list(PAGES))
def test_a_page_is_told_to_reload_when_the_restart_lost_the_history(
    open_page: Any, kind: str
) -> None:
    """local:// keeps the history in runwebsocket's memory: a restart loses it."""
    path, format = PAGES[kind]
    site = live_site({"DJWS_TEST_BROADCAST_URL": "local://"})
    try:
        stream = new_stream("lost")
        page = open_page(site.url + path.format(stream=stream))
        expect_listening(page)
        get(f"{site.url}/live/publish/{stream}/?text=before&format={format}")
        expect(page.locator("#messages li")).to_have_text(["before"])
        site.stop()
        site.start()
        get(f"{site.url}/live/publish/{stream}/?text=after&format={format}")
        page.wait_for_function("window.loads === 2", timeout=30_000)  # reloaded
        expect_listening(page)
    finally:
        site.stop()
