"""Delivery: positions, history and resume, on the in-process backend (memory://).

A client that asks for positions (``?djws=1``, as djws.js does) gets group
messages in JSON envelopes carrying them; reconnecting with ``djws-since``
replays exactly what it missed, then goes live; a position the history cannot
honour is said so (``recovered: false``), never skipped silently. The same
contract on Redis and PostgreSQL, through their outages: test_delivery_redis.py
and test_delivery_postgres.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from websockets.sync.client import ClientConnection, connect

from .support import Server, join, publish, run_server

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A server keeping 5 messages of history per group."""
    with run_server(env={"WEBSOCKET_BROADCAST_HISTORY": "5"}) as server:
        yield server


def member(server: Server, group: str, since: dict[str, str] | None = None) -> ClientConnection:
    """A member asking for positions (as djws.js does), resuming from ``since``."""
    query = "djws=1"
    if since is not None:
        query += "&djws-since=" + quote(json.dumps(since))
    return connect(f"{server.url}/broadcast/member/{group}/?{query}", open_timeout=10)


def envelope(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=10))
    assert isinstance(message, dict), message
    assert "djws" in message, message
    return message


def test_a_new_member_learns_its_position_then_gets_messages_in_envelopes(server: Server) -> None:
    with member(server, "d-new") as ws:
        joined = envelope(ws)
        assert joined == {
            "djws": "joined",
            "group": "d-new",
            "position": joined["position"],
            "recovered": None,
        }
        assert ws.recv(timeout=10) == "joined"  # the view's own message: no envelope
        epoch = joined["position"].partition(":")[0]
        positions = publish(server, "d-new", "one", "two")
        assert joined["position"] == f"{epoch}:0"  # memory://: one stream per process
        assert positions == [f"{epoch}:1", f"{epoch}:2"]
        for text, position in zip(["one", "two"], positions, strict=True):
            assert envelope(ws) == {
                "djws": "message",
                "group": "d-new",
                "position": position,
                "kind": "text",
                "data": text,
            }


def test_a_reconnecting_member_gets_exactly_what_it_missed_then_live(server: Server) -> None:
    with member(server, "d-resume") as ws:
        envelope(ws)
        ws.recv(timeout=10)
        first = publish(server, "d-resume", "seen")
        assert envelope(ws)["position"] == first[0]
    missed = publish(server, "d-resume", "missed 1", "missed 2", "missed 3")
    with member(server, "d-resume", {"d-resume": first[0]}) as ws:
        replayed = [envelope(ws) for _ in missed]
        assert [(m["position"], m["data"]) for m in replayed] == list(
            zip(missed, ["missed 1", "missed 2", "missed 3"], strict=True)
        )
        assert envelope(ws) == {
            "djws": "joined",
            "group": "d-resume",
            "position": missed[-1],
            "recovered": True,
        }
        assert ws.recv(timeout=10) == "joined"
        live = publish(server, "d-resume", "live")
        assert envelope(ws)["position"] == live[0]


def test_a_position_older_than_the_history_is_refused_explicitly(server: Server) -> None:
    start = publish(server, "d-old", "first")[0]
    positions = publish(server, "d-old", *(f"m{n}" for n in range(7)))  # history keeps 5
    with member(server, "d-old", {"d-old": start}) as ws:
        assert envelope(ws) == {
            "djws": "joined",
            "group": "d-old",
            "position": positions[-1],
            "recovered": False,
        }
        assert ws.recv(timeout=10) == "joined"


@pytest.mark.parametrize("since", ["otherepoch:1", "0123abcd:99999"])
def test_a_position_of_another_stream_or_the_future_is_refused(server: Server, since: str) -> None:
    publish(server, "d-epoch", "x")
    with member(server, "d-epoch", {"d-epoch": since}) as ws:
        joined = envelope(ws)
        assert (joined["djws"], joined["recovered"]) == ("joined", False)


def test_a_malformed_since_is_ignored_and_the_server_says_why(server: Server) -> None:
    with connect(
        f"{server.url}/broadcast/member/d-bad/?djws=1&djws-since=%7Bnot-json", open_timeout=10
    ) as ws:
        assert envelope(ws)["recovered"] is None
    server.wait_for_log("Ignoring a malformed djws-since parameter: '{not-json'")


def test_clients_that_did_not_ask_get_the_messages_as_published(server: Server) -> None:
    with join(server, "d-plain") as ws:
        publish(server, "d-plain", "as is")
        assert ws.recv(timeout=10) == "as is"


def test_history_is_readable_by_late_joiners_and_bounded(server: Server) -> None:
    positions = publish(server, "d-hist", *(f"h{n}" for n in range(8)))
    with join(server, "d-hist") as ws:
        ws.send("history")
        found = json.loads(ws.recv(timeout=10))
        assert (
            found
            == {
                "position": positions[-1],
                "complete": False,  # the first three are gone: history keeps 5
                "messages": [[p, f"h{n}"] for n, p in list(enumerate(positions))[3:]],
            }
        )
        ws.send(f"history {positions[4]}")
        found = json.loads(ws.recv(timeout=10))
        assert found["complete"] is True
        assert [m[1] for m in found["messages"]] == ["h5", "h6", "h7"]


def test_a_view_forwarding_group_messages_keeps_their_positions(server: Server) -> None:
    with connect(f"{server.url}/broadcast/relay/d-relay/?djws=1&forward=1", open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "joined"
        position = publish(server, "d-relay", "relayed")[0]
        assert envelope(ws) == {
            "djws": "message",
            "group": "d-relay",
            "position": position,
            "kind": "text",
            "data": "relayed",
        }
