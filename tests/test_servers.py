"""The built-in servers (``djws.builtin``, ``djws.contrib.chat``): echo, ping and chat.

They run in the sample site, which installs ``djws.contrib.chat`` and includes
``djws.builtin.urls`` under ``ws/``, served by a real ``runwebsocket`` and talked
to with the ``websockets`` client.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .support import (
    SAMPLE_SITE,
    Server,
    free_port,
    manage,
    run_server,
    wait_for_port,
)

TIMEOUT = 10
_rooms = itertools.count()


def migrated_database(tmp_path_factory: pytest.TempPathFactory, name: str) -> dict[str, str]:
    env = {"SAMPLE_SITE_DATABASE": str(tmp_path_factory.mktemp(name) / "db.sqlite3")}
    result = manage("migrate", "--noinput", "-v0", cwd=SAMPLE_SITE, env=env)
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return migrated_database(tmp_path_factory, "servers")


@pytest.fixture(scope="module")
def server(database: dict[str, str]) -> Iterator[Server]:
    """The sample site's WebSocket server, chat history limited to 5 messages."""
    with run_server(cwd=SAMPLE_SITE, env={**database, "WEBSOCKET_CHAT_HISTORY": "5"}) as server:
        yield server


def open_ws(server: Server, path: str) -> ClientConnection:
    return connect(
        f"{server.url}{path}", open_timeout=TIMEOUT, proxy=None, compression=None, legacy=True
    )


def room() -> str:
    """A fresh room name, so tests do not see each other's history."""
    return f"room-{next(_rooms)}"


def join(server: Server, name: str) -> tuple[ClientConnection, list[dict]]:
    """Join a chat room; return the connection and the history it was sent."""
    ws = open_ws(server, f"/ws/chat/{name}/")
    first = json.loads(ws.recv(timeout=TIMEOUT))
    assert first["type"] == "history"
    assert first["room"] == name
    return ws, first["messages"]


def say(ws: ClientConnection, text: str, name: str = "Ada", color: str = "#1f77b4") -> None:
    ws.send(json.dumps({"name": name, "color": color, "text": text}))


def receive(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=TIMEOUT))


def without_volatile(message: dict) -> dict:
    """A chat message without its id and time, which tests cannot know in advance."""
    assert isinstance(message["id"], int)
    assert message["time"].endswith("+00:00")
    return {k: v for k, v in message.items() if k not in ("id", "time")}


# Echo


def test_echo_repeats_text(server):
    with open_ws(server, "/ws/echo/") as ws:
        for text in ("hello", "", "héllo wörld ✓", "x" * 100_000):
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == text


def test_echo_repeats_binary_as_binary(server):
    with open_ws(server, "/ws/echo/") as ws:
        for data in (b"\x00\x01\xfe\xff", b"", bytes(range(256)) * 100):
            ws.send(data)
            assert ws.recv(timeout=TIMEOUT) == data


def test_echo_keeps_the_order_of_many_messages(server):
    with open_ws(server, "/ws/echo/") as ws:
        for i in range(200):
            ws.send(f"message {i}")
        assert [ws.recv(timeout=TIMEOUT) for _ in range(200)] == [
            f"message {i}" for i in range(200)
        ]


def test_plain_http_request_to_a_server_gets_426(server):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{server.http_url}/ws/echo/", timeout=TIMEOUT)
    with error.value:
        assert error.value.code == 426
        assert error.value.headers["Upgrade"] == "websocket"


# Ping


def test_ping_answers_pong_and_pong_answers_ping(server):
    with open_ws(server, "/ws/ping/") as ws:
        ws.send("ping")
        assert ws.recv(timeout=TIMEOUT) == "pong"
        ws.send("pong")
        assert ws.recv(timeout=TIMEOUT) == "ping"


def test_ping_ignores_everything_else(server):
    with open_ws(server, "/ws/ping/") as ws:
        for ignored in ("hello", "PING", "ping ", "", b"ping"):
            ws.send(ignored)
        # The server answers in order, so the first reply is to this ping:
        # nothing came back for the messages before it.
        ws.send("ping")
        assert ws.recv(timeout=TIMEOUT) == "pong"


# Chat


def test_chat_sends_an_empty_history_to_the_first_client(server):
    ws, history = join(server, room())
    with ws:
        assert history == []


def test_chat_default_room_is_the_lobby(server):
    with open_ws(server, "/ws/chat/") as ws:
        first = receive(ws)
        assert (first["type"], first["room"]) == ("history", "lobby")


def test_chat_message_reaches_everyone_in_the_room_with_name_and_colour(server):
    name = room()
    (alice, _), (bob, _) = join(server, name), join(server, name)
    with alice, bob:
        say(alice, "Hello Bob", name="Alice", color="#CC0000")
        expected = {
            "type": "message",
            "room": name,
            "name": "Alice",
            "color": "#cc0000",
            "text": "Hello Bob",
        }
        from_alice, to_bob = receive(alice), receive(bob)
        assert without_volatile(from_alice) == expected
        assert to_bob == from_alice
        say(bob, "Hi Alice", name="Bob", color="#00aa00")
        assert without_volatile(receive(alice))["name"] == "Bob"
        reply = receive(bob)
        assert (reply["color"], reply["text"]) == ("#00aa00", "Hi Alice")
        assert reply["id"] == from_alice["id"] + 1


def test_chat_history_is_sent_to_a_client_that_joins_later(server):
    name = room()
    ws, _ = join(server, name)
    with ws:
        sent = []
        for text in ("one", "two", "three"):
            say(ws, text)
            sent.append(receive(ws))
        latecomer, history = join(server, name)
        with latecomer:
            assert history == sent
            assert [m["text"] for m in history] == ["one", "two", "three"]


def test_chat_history_keeps_only_the_most_recent_messages(server, database):
    name = room()
    ws, _ = join(server, name)
    with ws:
        for i in range(8):
            say(ws, f"message {i}")
            receive(ws)
    latecomer, history = join(server, name)
    with latecomer:
        assert [m["text"] for m in history] == [f"message {i}" for i in range(3, 8)]
    # Older messages are deleted, not only left out.
    count = manage(
        "shell",
        "--no-imports",
        "-c",
        "from djws.contrib.chat.models import ChatMessage; "
        f"print(ChatMessage.objects.filter(room={name!r}).count())",
        cwd=SAMPLE_SITE,
        env=database,
    )
    assert count.stdout.strip() == "5", count.stderr


def test_chat_history_of_zero_stores_nothing(database):
    name = room()
    with run_server(cwd=SAMPLE_SITE, env={**database, "WEBSOCKET_CHAT_HISTORY": "0"}) as server:
        ws, history = join(server, name)
        with ws:
            assert history == []
            say(ws, "not kept")
            message = receive(ws)
            assert (message["id"], message["text"]) == (None, "not kept")
            latecomer, history = join(server, name)
            with latecomer:
                assert history == []


def test_chat_rooms_are_separate(server):
    (kitchen, _), (garden, _) = join(server, room()), join(server, room())
    with kitchen, garden:
        say(kitchen, "in the kitchen")
        say(garden, "in the garden")
        assert receive(garden)["text"] == "in the garden"
        assert receive(kitchen)["text"] == "in the kitchen"


@pytest.mark.parametrize(
    ("message", "errors"),
    [
        (
            {"name": "Eve", "color": "red", "text": "hi"},
            {"color": ["Enter a colour as #rrggbb, for example #1f77b4."]},
        ),
        (
            {"name": "Eve", "color": "#12345g", "text": "hi"},
            {"color": ["Enter a colour as #rrggbb, for example #1f77b4."]},
        ),
        ({"color": "#123456", "text": "hi"}, {"name": ["This field is required."]}),
        ({"name": "   ", "color": "#123456", "text": "hi"}, {"name": ["This field is required."]}),
        (
            {"name": "E" * 33, "color": "#123456", "text": "hi"},
            {"name": ["Ensure this value has at most 32 characters (it has 33)."]},
        ),
        ({"name": "Eve", "color": "#123456", "text": ""}, {"text": ["This field is required."]}),
        (
            {"name": "Eve", "color": "#123456", "text": "x" * 1001},
            {"text": ["Ensure this value has at most 1000 characters (it has 1001)."]},
        ),
        (
            {},
            {
                "name": ["This field is required."],
                "color": ["This field is required."],
                "text": ["This field is required."],
            },
        ),
    ],
)
def test_chat_invalid_message_gets_form_errors_and_is_not_relayed(server, message, errors):
    name = room()
    (eve, _), (bob, _) = join(server, name), join(server, name)
    with eve, bob:
        eve.send(json.dumps(message))
        assert receive(eve) == {"type": "error", "errors": errors}
        # The connection is still usable, and Bob's first message is the valid one.
        say(eve, "valid")
        assert receive(bob)["text"] == "valid"
        assert receive(eve)["text"] == "valid"


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '"text"', "null", b"\x00binary"])
def test_chat_malformed_message_gets_an_error_not_a_crash(server, payload):
    ws, _ = join(server, room())
    with ws:
        ws.send(payload)
        error = receive(ws)
        assert error["type"] == "error"
        expected = (
            "Send chat messages as JSON text, not binary."
            if isinstance(payload, bytes)
            else 'Send a JSON object: {"name": ..., "color": ..., "text": ...}.'
        )
        assert error["errors"] == {"__all__": [expected]}
        say(ws, "still here")
        assert receive(ws)["text"] == "still here"


def test_chat_text_is_relayed_verbatim_not_interpreted(server):
    ws, _ = join(server, room())
    with ws:
        text = "<script>alert('x')</script> & \"quotes\" \u2603"
        say(ws, text, name="<b>Mallory</b>")
        message = receive(ws)
        assert (message["name"], message["text"]) == ("<b>Mallory</b>", text)


def test_chat_history_survives_a_server_restart(database):
    name = room()
    with run_server(cwd=SAMPLE_SITE, env=database) as first:
        ws, _ = join(first, name)
        with ws:
            say(ws, "before the restart")
            receive(ws)
            first.stop()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=TIMEOUT)
            assert closed.value.rcvd.code == 1001
    with run_server(cwd=SAMPLE_SITE, env=database) as second:
        ws, history = join(second, name)
        with ws:
            assert [m["text"] for m in history] == ["before the restart"]


def test_chat_without_migrations_closes_with_1011_and_says_to_migrate(tmp_path):
    env = {"SAMPLE_SITE_DATABASE": str(tmp_path / "empty.sqlite3")}
    with run_server(cwd=SAMPLE_SITE, env=env) as server, open_ws(server, "/ws/chat/") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
        assert closed.value.rcvd.code == 1011
        assert closed.value.rcvd.reason == "chat history unavailable: run manage.py migrate"
        # Echo and ping do not need the database.
        with open_ws(server, "/ws/echo/") as echo:
            echo.send("still serving")
            assert echo.recv(timeout=TIMEOUT) == "still serving"


# The sample site's Procfile


def test_sample_site_procfile_web_command_serves_everything_on_port(tmp_path):
    procfile = (SAMPLE_SITE / "Procfile").read_text().splitlines()
    web = [line.split(":", 1)[1].strip() for line in procfile if line.startswith("web:")]
    assert len(web) == 1, procfile
    port = free_port()
    env = {
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "SAMPLE_SITE_DATABASE": str(tmp_path / "fresh.sqlite3"),
    }
    with run_server(command=["sh", "-c", web[0]], cwd=SAMPLE_SITE, env=env) as server:
        assert server.port == port
        assert "Starting djws server at http://0.0.0.0:" in server.log()
        with urllib.request.urlopen(f"{server.http_url}/", timeout=TIMEOUT) as response:
            assert response.status == 200
            assert "<title>djws playground</title>" in response.read().decode()
        css = f"{server.http_url}/static/playground/site.css"
        with urllib.request.urlopen(css, timeout=TIMEOUT) as response:
            assert response.headers["Content-Type"] == "text/css"
        # The command migrated the fresh database: the chat works.
        ws, history = join(server, room())
        with ws:
            assert history == []
            say(ws, "deployed")
            assert receive(ws)["text"] == "deployed"


# Across processes: the chat over Redis


@pytest.fixture
def redis(tmp_path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A Redis server of this test's own, on a free port, without persistence."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port, TIMEOUT)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(TIMEOUT)


@pytest.mark.redis
def test_chat_across_two_servers_over_redis_and_without_it(database, redis):
    redis_url, redis_process = redis
    env = {**database, "WEBSOCKET_BROADCAST_URL": redis_url}
    name = room()
    with run_server(cwd=SAMPLE_SITE, env=env) as one, run_server(cwd=SAMPLE_SITE, env=env) as two:
        (alice, _), (bob, _) = join(one, name), join(two, name)
        with alice, bob:
            say(alice, "from server one", name="Alice")
            assert receive(bob)["text"] == "from server one"
            say(bob, "from server two", name="Bob")
            assert receive(alice)["text"] == "from server one"
            assert receive(alice)["text"] == "from server two"
            carol, history = join(one, name)
            with carol:
                assert [m["name"] for m in history] == ["Alice", "Bob"]
            # Redis goes away: the message is kept for the history, the sender
            # is told, and the connection stays up.
            redis_process.terminate()
            redis_process.wait(TIMEOUT)
            say(alice, "into the void", name="Alice")
            assert receive(alice) == {
                "type": "error",
                "errors": {"__all__": ["Your message was saved but could not be delivered now."]},
            }
            say(alice, "still nothing")
            assert receive(alice)["type"] == "error"
