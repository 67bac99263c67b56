"""djws.test with pytest-django: fixtures, markers and the ``settings`` fixture."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from testproject.models import Note

from djws.test import HandshakeRefused, WebSocketClient


@pytest.fixture
def ws_client() -> WebSocketClient:
    """What a project's conftest.py would define."""
    return WebSocketClient()


@pytest.fixture
def ada(django_user_model: type[AbstractUser]) -> AbstractUser:
    return django_user_model.objects.create_user(username="ada", password="analytical-1843")


def test_echo_needs_no_database(ws_client: WebSocketClient) -> None:
    with ws_client.connect("/echo/") as ws:
        ws.send("no database here")
        assert ws.receive() == "no database here"
    assert ws.close_code == 1000


def test_a_view_that_queries_is_blocked_without_django_db(ws_client: WebSocketClient) -> None:
    # pytest-django's database blocker applies to the view too: it runs in this test.
    with ws_client.connect("/db/count/") as ws:
        ws.send("anything")
        with pytest.raises(RuntimeError, match="Database access not allowed"):
            ws.wait_closed()
    assert ws.close_code == 1011


@pytest.mark.django_db
def test_view_and_test_share_the_test_transaction(ws_client: WebSocketClient) -> None:
    Note.objects.create(text="seen by the view")
    with ws_client.connect("/db/count/") as ws:
        ws.send("seen by the view")
        assert ws.receive() == "1"
    with ws_client.connect("/db/write/") as ws:
        ws.send("commit seen by the test")
        assert ws.receive() == "committed"
    assert Note.objects.filter(text="seen by the test").count() == 1


@pytest.mark.django_db(transaction=True)
def test_transactional_db_commits_for_real(ws_client: WebSocketClient) -> None:
    with ws_client.connect("/db/write/") as ws:
        ws.send("commit committed row")
        assert ws.receive() == "committed"
    assert list(Note.objects.values_list("text", flat=True)) == ["committed row"]


def test_logged_in_user_through_force_login(ws_client: WebSocketClient, ada: AbstractUser) -> None:
    ws_client.force_login(ada)
    with ws_client.connect("/private/") as ws:
        assert ws.receive() == "hello ada"


def test_logged_in_user_through_login(ws_client: WebSocketClient, ada: AbstractUser) -> None:
    assert ws_client.login(username="ada", password="analytical-1843")
    with ws_client.connect("/whoami/") as ws:
        assert ws.receive() == "ada"


@pytest.mark.django_db
def test_anonymous_user_is_refused_with_the_login_page(ws_client: WebSocketClient) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        ws_client.connect("/private/")
    assert refused.value.response.status_code == 403
    assert refused.value.response.content == (
        b"Authentication required: log in at /accounts/login/, then open this WebSocket again.\n"
    )


def test_settings_fixture_changes_allowed_origins(
    ws_client: WebSocketClient, settings: object
) -> None:
    ws_client.assert_refused("/echo/", 403, origin="https://app.example")
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://app.example"]  # type: ignore[attr-defined]
    with ws_client.connect("/echo/", origin="https://app.example") as ws:
        ws.send("allowed now")
        assert ws.receive() == "allowed now"


def test_settings_fixture_changes_the_websocket_urlconf(
    ws_client: WebSocketClient, settings: object
) -> None:
    settings.WEBSOCKET_URLCONF = "tests.toolkit.websocket_urls"  # type: ignore[attr-defined]
    with ws_client.connect("/ws/echo/") as ws:
        ws.send("built-in echo")
        assert ws.receive() == "built-in echo"
    ws_client.assert_refused("/echo/", 404)


def test_query_string_and_headers(ws_client: WebSocketClient) -> None:
    ws = ws_client.connect("/close/4001/", {"reason": "query string"}, headers={"X-Test": "1"})
    ws.assert_closed(4001, "query string")


@pytest.mark.django_db
def test_a_publish_in_atomic_is_sent_by_the_captured_commit(
    ws_client: WebSocketClient, django_capture_on_commit_callbacks: Any
) -> None:
    # pytest-django's transaction counts as TestCase's: only the view's atomic() waits.
    with ws_client.connect("/broadcast/member/pt-room/") as ws:
        assert ws.receive() == "joined"
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            ws.send("tx-commit hello")
            assert ws.receive() == "committed None"
        assert len(callbacks) == 1
        assert ws.receive() == "hello"
        ws.send("publish at once")
        assert ws.receive() == "at once"
