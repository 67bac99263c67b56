"""The chat is an opt-in app: ``djws.contrib.chat``.

Core djws has no model, so a project without the chat app gets no table from
``migrate``, and ``djws.builtin.urls`` gives it echo and ping only. With the app
installed, ``djws:chat`` is there as before, and ``djws.contrib.chat.urls``
serves the chat on its own. Without it, whatever reaches for the chat says which
app to add. Each test runs the test project's ``manage.py`` (``DJWS_TEST_CHAT=0``
leaves the app out) or a real server, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.sync.client import connect

from .support import manage, raw_request, run_server, status_of, upgrade_request

TIMEOUT = 10
WITHOUT_CHAT = {"DJWS_TEST_CHAT": "0"}
BUILTIN_URLS = {"DJWS_TEST_WEBSOCKET_URLCONF": "testproject.builtin_websocket_urls"}
CHAT_URLS = {"DJWS_TEST_WEBSOCKET_URLCONF": "testproject.chat_websocket_urls"}

#: What importing the chat's modules without its app raises.
NOT_INSTALLED = (
    'RuntimeError: djws.contrib.chat is not installed: add "djws.contrib.chat" to '
    "INSTALLED_APPS (then run manage.py migrate) to use the chat server, its models or "
    "its URLs."
)


def shell(code: str, env: dict[str, str]) -> str:
    """Run ``code`` in the test project's ``manage.py shell``; return what it printed."""
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def tables_after_migrate(database: Path, env: dict[str, str]) -> list[str]:
    """Migrate a fresh SQLite database; return the names of its tables."""
    env = {**env, "DJWS_TEST_SQLITE": str(database)}
    result = manage("migrate", "--noinput", "-v0", env=env)
    assert result.returncode == 0, result.stderr
    code = "from django.db import connection; print(*connection.introspection.table_names())"
    return shell(code, env).split()


def test_without_the_chat_app_migrate_creates_no_djws_table(tmp_path: Path) -> None:
    tables = tables_after_migrate(tmp_path / "db.sqlite3", WITHOUT_CHAT)
    assert "auth_user" in tables  # the project's other apps were migrated
    assert [table for table in tables if table.startswith("djws")] == []


def test_core_djws_has_no_migrations(tmp_path: Path) -> None:
    env = {"DJWS_TEST_SQLITE": str(tmp_path / "db.sqlite3")}
    result = manage("showmigrations", "djws", "djws_chat", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == [
        "djws",
        " (no migrations)",
        "djws_chat",
        " [ ] 0001_initial",
    ]


def test_with_the_chat_app_migrate_creates_its_table_and_index(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    tables = tables_after_migrate(database, {})
    assert [table for table in tables if table.startswith("djws")] == ["djws_chat_chatmessage"]
    code = (
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    constraints = connection.introspection.get_constraints(\n"
        "        cursor, 'djws_chat_chatmessage')\n"
        "print(constraints['djws_chat_message_room_recent']['columns'])"
    )
    assert shell(code, {"DJWS_TEST_SQLITE": str(database)}) == "['room', 'id']"


def test_without_the_chat_app_the_builtin_urls_are_echo_and_ping() -> None:
    code = (
        "from djws.builtin import urls; print([(str(p.pattern), p.name) for p in urls.urlpatterns])"
    )
    assert shell(code, WITHOUT_CHAT) == "[('echo/', 'echo'), ('ping/', 'ping')]"


def test_without_the_chat_app_a_server_serves_echo_and_no_chat() -> None:
    with run_server(env={**WITHOUT_CHAT, **BUILTIN_URLS}) as server:
        with connect(f"{server.url}/ws/echo/", open_timeout=TIMEOUT, proxy=None) as ws:
            ws.send("no chat here")
            assert ws.recv(timeout=TIMEOUT) == "no chat here"
        for path in ("/ws/chat/", "/ws/chat/lobby/"):
            reply = raw_request("127.0.0.1", server.port, upgrade_request(path))
            assert status_of(reply) == 404, reply


def test_with_the_chat_app_djws_chat_reverses_as_before() -> None:
    code = (
        "from djws.reverse import reverse_websocket as r; "
        "print(r('djws:echo'), r('djws:ping'), r('djws:chat'), r('djws:chat', args=['kitchen']))"
    )
    assert shell(code, BUILTIN_URLS) == "/ws/echo/ /ws/ping/ /ws/chat/ /ws/chat/kitchen/"


def test_the_chat_urls_alone_reverse_in_their_own_namespace() -> None:
    code = (
        "from djws.reverse import reverse_websocket as r; "
        "print(r('djws_chat:chat'), r('djws_chat:chat', kwargs={'room': 'kitchen'}))"
    )
    assert shell(code, CHAT_URLS) == "/ws/chat/ /ws/chat/kitchen/"


def test_the_chat_urls_alone_serve_the_chat() -> None:
    # The session's database (tests/conftest.py) was migrated with the chat app.
    with (
        run_server(env=CHAT_URLS) as server,
        connect(f"{server.url}/ws/chat/kitchen/", open_timeout=TIMEOUT, proxy=None) as ws,
    ):
        first = json.loads(ws.recv(timeout=TIMEOUT))
        assert (first["type"], first["room"]) == ("history", "kitchen")
        ws.send(json.dumps({"name": "Ada", "color": "#1f77b4", "text": "alone"}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["text"] == "alone"


@pytest.mark.parametrize(
    "module",
    [
        "djws.contrib.chat.models",
        "djws.contrib.chat.forms",
        "djws.contrib.chat.views",
        "djws.contrib.chat.urls",
    ],
)
def test_importing_the_chat_without_its_app_says_to_add_it(module: str) -> None:
    result = manage("shell", "--no-imports", "-c", f"import {module}", env=WITHOUT_CHAT)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == NOT_INSTALLED


def test_a_chat_urlconf_without_the_app_is_a_check_error_saying_to_add_it() -> None:
    result = manage("check", env={**WITHOUT_CHAT, **CHAT_URLS})
    assert result.returncode == 1
    assert (
        "(djws.E002) WEBSOCKET_URLCONF 'testproject.chat_websocket_urls' cannot be imported: "
        + NOT_INSTALLED
    ) in result.stderr
    assert "Traceback" not in result.stderr


def test_reversing_djws_chat_without_the_app_says_to_add_it() -> None:
    code = (
        "from djws.reverse import reverse_websocket\n"
        "try:\n"
        "    reverse_websocket('djws:chat')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)"
    )
    assert shell(code, {**WITHOUT_CHAT, **BUILTIN_URLS}) == (
        "NoReverseMatch Reverse for 'chat' not found. 'chat' is not a valid view function "
        "or pattern name. 'djws:chat' is a view of djws.contrib.chat, which is not "
        'installed: add "djws.contrib.chat" to INSTALLED_APPS (then run manage.py migrate).'
    )


def test_the_chat_setting_belongs_to_the_chat_app() -> None:
    code = (
        "from django.test import override_settings\n"
        "from djws.conf import settings as core\n"
        "from djws.contrib.chat.conf import settings\n"
        "print(hasattr(core, 'WEBSOCKET_CHAT_HISTORY'), settings.WEBSOCKET_CHAT_HISTORY)\n"
        "with override_settings(WEBSOCKET_CHAT_HISTORY=7):\n"
        "    print(settings.WEBSOCKET_CHAT_HISTORY)"
    )
    assert shell(code, {}).splitlines() == ["False 50", "7"]
