"""How a connection learns when its session expires, without a query per handshake.

The keepalive pass reads the stored expiry of every database-backed session
whose connections opened meanwhile in one query; ``tests/test_sessions_end.py``
shows on real servers that expired sessions still close their sockets on time.
"""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.test import RequestFactory

from djws import sessions

pytestmark = pytest.mark.fast


def test_a_database_sessions_expiry_is_left_to_one_read_for_many_handshakes() -> None:
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    request = RequestFactory().get("/")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore("k" * 32)  # type: ignore[attr-defined]
    # pytest-django refuses every query here: one would fail the test.
    assert sessions.expiry_of(request) == sessions.UNREAD


def test_a_request_without_a_session_has_no_expiry() -> None:
    assert sessions.expiry_of(RequestFactory().get("/")) is None
