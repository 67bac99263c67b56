"""The chat's acknowledgements: a client_id chosen by the client, repeated to it alone.

A message with a ``client_id`` is answered, to its sender only, with an ack
carrying the message as stored -- before the room's copy -- or with the error
that says why not, carrying the same ``client_id``. That is how a page knows
when the text in its box has reached the server (issue 14).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from websockets.sync.client import ClientConnection, connect

from .support import SAMPLE_SITE, Server, run_server
from .support.browser import migrated_sample_site

TIMEOUT = 10
_rooms = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = migrated_sample_site(tmp_path_factory.mktemp("acks"))
    with run_server(cwd=SAMPLE_SITE, env=env) as server:
        yield server


def join(server: Server, room: str) -> ClientConnection:
    ws = connect(f"{server.url}/ws/chat/{room}/", open_timeout=TIMEOUT, proxy=None, legacy=True)
    assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "history"
    return ws


def receive(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=TIMEOUT))


def message(text: str = "Hello", **extra: object) -> str:
    return json.dumps({"name": "Ada", "color": "#1f77b4", "text": text, **extra})


@pytest.fixture
def room() -> str:
    return f"acks-{next(_rooms)}"


def test_a_message_with_a_client_id_is_acknowledged_to_its_sender_before_the_room_copy(
    server, room
):
    with join(server, room) as ada, join(server, room) as bob:
        ada.send(message(client_id="c-1"))
        ack = receive(ada)
        assert ack["type"] == "ack"
        assert ack["client_id"] == "c-1"
        stored = ack["message"]
        assert (stored["type"], stored["text"], stored["room"]) == ("message", "Hello", room)
        assert isinstance(stored["id"], int)
        # Then the room's copy, the same message, without the client_id.
        assert receive(ada) == stored
        assert receive(bob) == stored


def test_an_invalid_message_gets_its_errors_with_the_client_id(server, room):
    with join(server, room) as ada:
        ada.send(message("", client_id="c-2"))
        assert receive(ada) == {
            "type": "error",
            "client_id": "c-2",
            "errors": {"text": ["This field is required."]},
        }


@pytest.mark.parametrize("client_id", [7, ["c"], "c" * 65])
def test_a_client_id_must_be_a_short_string(server, room, client_id):
    with join(server, room) as ada:
        ada.send(message("not posted", client_id=client_id))
        assert receive(ada) == {
            "type": "error",
            "errors": {"client_id": ["A client_id is a string of at most 64 characters."]},
        }
        # Nothing was posted: the next message is the next thing anyone receives.
        ada.send(message("posted"))
        assert receive(ada)["text"] == "posted"


def test_without_a_client_id_there_is_no_ack(server, room):
    with join(server, room) as ada:
        ada.send(message("plain"))
        assert receive(ada)["type"] == "message"
        ada.send(message("with", client_id="c" * 64))
        assert receive(ada)["type"] == "ack"
        assert receive(ada)["text"] == "with"
