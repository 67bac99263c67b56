"""Memory: a finished connection is freed by reference counting alone.

With the cyclic garbage collector off, every object of a connection -- the
pywsgi handler, the Upgrade hand-off, the Django request, its session and
user, the connection, its protocol, parser, transport, deflate context and
broadcast membership -- must be gone once the client has closed. A reference
cycle would keep them until a full collection, which in a worker holding
thousands of sockets is both rare and slow.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from websockets.sync.client import connect

from djws.server.registry import registry
from djws.server.worker import GC_QUIET_CONNECTIONS, GC_THRESHOLDS, collect_when_quiet

from .support import Server


def report(server: Server) -> dict[str, list[str]]:
    with connect(f"{server.url}/memory/report/", compression=None) as ws:
        return json.loads(ws.recv(timeout=10))


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
def test_a_closed_connection_leaves_nothing_for_the_cyclic_collector(
    server: Server, compression: str | None
) -> None:
    with connect(f"{server.url}/memory/tracked/", compression=compression) as ws:
        for n in range(3):
            ws.send(f"message {n}")
            assert ws.recv(timeout=5) == f"message {n}"
    result = report(server)
    assert "handler" in result["tracked"]
    assert ("deflate" in result["tracked"]) is (compression is not None)
    assert result["alive"] == []


@pytest.mark.parametrize("credential", ["ticket", "token"])
def test_an_authenticated_connection_leaves_nothing_for_the_cyclic_collector(
    server: Server, credential: str
) -> None:
    """Tickets and Django REST framework's tokens (djws.auth) leave no cycle either."""
    with connect(f"{server.url}/auth/credentials/m-{credential}/") as ws:
        issued = json.loads(ws.recv(timeout=10))
    if credential == "ticket":
        options: dict[str, Any] = {"subprotocols": [f"djws.ticket.{issued['ticket']}"]}
    else:
        options = {"additional_headers": {"Authorization": f"Token {issued['token']}"}}
    with connect(f"{server.url}/memory/tracked/", compression=None, **options) as ws:
        ws.send("message")
        assert ws.recv(timeout=5) == "message"
    result = report(server)
    assert {"request", "user", "connection"} <= set(result["tracked"])
    assert result["alive"] == []


def test_the_worker_freezes_start_up_objects_and_collects_only_young_ones(
    server: Server,
) -> None:
    """No automatic full collection: with 10,000 connections open one takes 370 ms."""
    with connect(f"{server.url}/memory/gc/report/", compression=None) as ws:
        result = json.loads(ws.recv(timeout=10))
    assert result["thresholds"] == list(GC_THRESHOLDS) == [700, 10, 1_000_000]
    assert result["frozen"] > 10_000  # Django, the urlconfs, the views


@pytest.mark.fast
def test_the_worker_collects_everything_only_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.collect()
    assert not collect_when_quiet()  # nothing passed to the oldest generation since
    gc.collect(1)
    busy = set(range(GC_QUIET_CONNECTIONS + 1))
    monkeypatch.setattr(registry, "_connections", busy)
    assert not collect_when_quiet()
    assert gc.get_count()[2] == 1
    monkeypatch.setattr(registry, "_connections", set(range(GC_QUIET_CONNECTIONS)))
    assert collect_when_quiet()
    assert gc.get_count()[2] == 0
