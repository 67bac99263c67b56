"""Delivery: positions, history and resume, on the in-process backend (memory://).

A client that asks for positions (``?djws=1``, as djws.js does) gets group
messages in JSON envelopes carrying them; reconnecting with ``djws-since``
replays exactly what it missed, then goes live; a position the history cannot
honour is said so (``recovered: false``), never skipped silently. The same
contract on Redis and PostgreSQL, through their outages: test_delivery_redis.py
and test_delivery_postgres.py.

The views run in this process, served by djws's test client, whose broadcast
is the in-process one (memory://) whatever the settings say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.test import override_settings

from djws.broadcast.backends import backends

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module", autouse=True)
def history_of_five() -> Iterator[None]:
    """The in-process backend keeps 5 messages of history per group."""
    with override_settings(WEBSOCKET_BROADCAST_HISTORY=5):
        backends.reset()  # built again, with this history, by the first client
        yield
    backends.reset()


def member(client: Any, group: str, since: dict[str, str] | None = None) -> Any:
    """A member asking for positions (as djws.js does), resuming from ``since``."""
    query = "djws=1"
    if since is not None:
        query += "&djws-since=" + quote(json.dumps(since))
    return client.connect(f"/broadcast/member/{group}/?{query}", timeout=10)


def envelope(ws: Any) -> dict[str, Any]:
    message = json.loads(ws.receive(timeout=10))
    assert isinstance(message, dict), message
    assert "djws" in message, message
    return message


def join(client: Any, group: str) -> Any:
    """A plain member of ``group``, once joined (the view says so)."""
    ws = client.connect(f"/broadcast/member/{group}/", timeout=10)
    assert ws.receive(timeout=10) == "joined"
    return ws


def publish(client: Any, group: str, *texts: str) -> list[str]:
    """Publish ``texts`` to ``group`` from another connection; return their positions."""
    positions = []
    with join(client, f"{group}-publisher") as publisher:
        for text in texts:
            publisher.send(f"publish-position-to {group} {text}")
            reply = publisher.receive(timeout=10)
            assert reply.startswith("position "), reply
            positions.append(reply.removeprefix("position "))
    return positions


def test_a_new_member_learns_its_position_then_gets_messages_in_envelopes(ws_client: Any) -> None:
    with member(ws_client, "d-new") as ws:
        joined = envelope(ws)
        assert joined == {
            "djws": "joined",
            "group": "d-new",
            "position": joined["position"],
            "recovered": None,
        }
        assert ws.receive(timeout=10) == "joined"  # the view's own message: no envelope
        epoch = joined["position"].partition(":")[0]
        positions = publish(ws_client, "d-new", "one", "two")
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


def test_a_reconnecting_member_gets_exactly_what_it_missed_then_live(ws_client: Any) -> None:
    with member(ws_client, "d-resume") as ws:
        envelope(ws)
        ws.receive(timeout=10)
        first = publish(ws_client, "d-resume", "seen")
        assert envelope(ws)["position"] == first[0]
    missed = publish(ws_client, "d-resume", "missed 1", "missed 2", "missed 3")
    with member(ws_client, "d-resume", {"d-resume": first[0]}) as ws:
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
        assert ws.receive(timeout=10) == "joined"
        live = publish(ws_client, "d-resume", "live")
        assert envelope(ws)["position"] == live[0]


def test_a_position_older_than_the_history_is_refused_explicitly(ws_client: Any) -> None:
    start = publish(ws_client, "d-old", "first")[0]
    positions = publish(ws_client, "d-old", *(f"m{n}" for n in range(7)))  # history keeps 5
    with member(ws_client, "d-old", {"d-old": start}) as ws:
        assert envelope(ws) == {
            "djws": "joined",
            "group": "d-old",
            "position": positions[-1],
            "recovered": False,
        }
        assert ws.receive(timeout=10) == "joined"


@pytest.mark.parametrize("since", ["otherepoch:1", "0123abcd:99999"])
def test_a_position_of_another_stream_or_the_future_is_refused(ws_client: Any, since: str) -> None:
    publish(ws_client, "d-epoch", "x")
    with member(ws_client, "d-epoch", {"d-epoch": since}) as ws:
        joined = envelope(ws)
        assert (joined["djws"], joined["recovered"]) == ("joined", False)


def test_a_malformed_since_is_ignored_and_the_server_says_why(
    ws_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = "/broadcast/member/d-bad/?djws=1&djws-since=%7Bnot-json"
    with ws_client.connect(path, timeout=10) as ws:
        assert envelope(ws)["recovered"] is None
    assert "Ignoring a malformed djws-since parameter: '{not-json'" in caplog.text


def test_clients_that_did_not_ask_get_the_messages_as_published(ws_client: Any) -> None:
    with join(ws_client, "d-plain") as ws:
        publish(ws_client, "d-plain", "as is")
        assert ws.receive(timeout=10) == "as is"


def test_history_is_readable_by_late_joiners_and_bounded(ws_client: Any) -> None:
    positions = publish(ws_client, "d-hist", *(f"h{n}" for n in range(8)))
    with join(ws_client, "d-hist") as ws:
        ws.send("history")
        found = json.loads(ws.receive(timeout=10))
        assert (
            found
            == {
                "position": positions[-1],
                "complete": False,  # the first three are gone: history keeps 5
                "messages": [[p, f"h{n}"] for n, p in list(enumerate(positions))[3:]],
            }
        )
        ws.send(f"history {positions[4]}")
        found = json.loads(ws.receive(timeout=10))
        assert found["complete"] is True
        assert [m[1] for m in found["messages"]] == ["h5", "h6", "h7"]


def test_a_view_forwarding_group_messages_keeps_their_positions(ws_client: Any) -> None:
    with ws_client.connect("/broadcast/relay/d-relay/?djws=1&forward=1", timeout=10) as ws:
        assert ws.receive(timeout=10) == "joined"
        position = publish(ws_client, "d-relay", "relayed")[0]
        assert envelope(ws) == {
            "djws": "message",
            "group": "d-relay",
            "position": position,
            "kind": "text",
            "data": "relayed",
        }
