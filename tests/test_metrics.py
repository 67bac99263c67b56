"""Prometheus metrics (``runwebsocket --metrics 127.0.0.1:PORT``) after a known sequence.

Two workers count into one multiprocess directory; the server's main process
answers on the metrics address of its own, adding them up; the WebSocket port
does not serve them unless asked with a path. The sequence: three accepted
connections (two closed by the client with 1000, one by the view with 4000 after
an echo each), a refused Origin (403) and a malformed handshake (400). Then the
scrape must say exactly that; and one line per connection in the access log says
how it ended.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .support import (
    Server,
    free_port,
    http_get,
    raw_request,
    run_server,
    status_of,
    unique_prefix,
    upgrade_request,
    wait_for,
    wait_for_port,
)

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """Two workers (so a shared broadcast backend: Redis, with a prefix of its own)."""
    env = {
        "DJWS_TEST_BROADCAST_URL": "redis://127.0.0.1:6379/0",
        "DJWS_TEST_BROADCAST_PREFIX": unique_prefix(),
        "DJWS_TEST_LIMITS": '{"groups_per_connection": 2}',
    }
    port = free_port()
    address = f"127.0.0.1:{port}"
    with run_server("--metrics", address, "--access-log", "--workers", "2", env=env) as server:
        wait_for_port("127.0.0.1", port)  # the main process answers once it runs
        server.metrics_url = f"http://{address}/metrics"  # type: ignore[attr-defined]
        yield server


def scrape(server: Server, url: str | None = None) -> dict[str, float]:
    """The samples of the djws_ metrics, by name and labels."""
    url = url or server.metrics_url  # type: ignore[attr-defined]
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^(djws_\w+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def scrape_until(server: Server, expected: dict[str, float]) -> dict[str, float]:
    """Scrape until every expected sample has its value (workers flush once a second)."""

    def settled() -> dict[str, float] | None:
        samples = scrape(server)
        return samples if all(samples.get(n) == v for n, v in expected.items()) else None

    def now() -> str:
        samples = scrape(server)
        return f"the samples {expected} (now: { ({n: samples.get(n) for n in expected}) })"

    return wait_for(settled, 10, now, interval=0.2)


def test_a_scrape_counts_handshakes_messages_bytes_and_closes(server: Server) -> None:
    before = scrape(server)
    for _ in range(2):
        with connect(f"{server.url}/echo/") as ws:
            ws.send("hello")  # 5 bytes: a 11-byte frame from the client, 7 back
            assert ws.recv(timeout=10) == "hello"
    with connect(f"{server.url}/close/4000/") as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    refused = upgrade_request(Origin="https://evil.example")
    assert status_of(raw_request(server.host, server.port, refused)) == 403
    malformed = upgrade_request(Sec_WebSocket_Key="x")
    assert status_of(raw_request(server.host, server.port, malformed)) == 400

    def grown(name: str, by: float) -> tuple[str, float]:
        return name, before.get(name, 0.0) + by

    samples = scrape_until(
        server,
        dict(
            [
                grown('djws_handshakes_total{status="101"}', 3),
                grown('djws_handshakes_total{status="403"}', 1),
                grown('djws_handshakes_total{status="400"}', 1),
                grown('djws_closes_total{code="1000"}', 2),
                grown('djws_closes_total{code="4000"}', 1),
                grown('djws_messages_total{direction="in"}', 2),
                grown('djws_messages_total{direction="out"}', 2),
                ("djws_connections_open", 0),
            ]
        ),
    )
    # Bytes count whole frames: 2 x 11 in (masked), 2 x 7 out, plus the close frames.
    assert (
        samples['djws_bytes_total{direction="in"}']
        >= before.get('djws_bytes_total{direction="in"}', 0) + 22
    )
    assert "djws_broadcast_lag_seconds_count" in samples


def closed_lines(server: Server) -> list[str]:
    return [line for line in server.log().splitlines() if " WebSocket closed " in line]


def test_one_access_log_line_per_connection(server: Server) -> None:
    before = len(closed_lines(server))
    with connect(f"{server.url}/echo/", compression=None) as ws:
        ws.send("x" * 100)
        ws.recv(timeout=10)

    def more_lines() -> list[str]:
        lines = closed_lines(server)
        return lines if len(lines) != before else []

    lines = wait_for(more_lines, 10, lambda: f"the connection's access log line:\n{server.log()}")
    # In: the masked 106-byte frame and the client's 8-byte close; out: 102 bytes.
    assert re.fullmatch(
        r'127\.0\.0\.1 "/echo/" WebSocket closed 1000 after \d+\.\d{3} s: '
        r"in 1 messages 114 B, out 1 messages 102 B",
        lines[-1],
    ), lines[-1]


def test_the_websocket_port_does_not_serve_the_metrics(server: Server) -> None:
    reply = raw_request(server.host, server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(reply) == 426  # a WebSocket address, nothing else
    assert b"djws_" not in reply


def test_a_crossed_limit_is_counted(server: Server) -> None:
    before = scrape(server).get('djws_limit_crossings_total{limit="groups_per_connection"}', 0)
    with connect(f"{server.url}/limits/joiner/") as ws:
        for n in range(3):
            ws.send(f"group-{n}")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    scrape_until(server, {'djws_limit_crossings_total{limit="groups_per_connection"}': before + 1})


def test_a_path_serves_them_on_the_websocket_port_when_asked() -> None:
    with run_server("--metrics", "/metrics", "--http") as server:
        samples = scrape(server, f"{server.http_url}/metrics")
        assert "djws_connections_open" in samples
        assert http_get(server, "/not-metrics/")[0] == 404
