"""A ticket in ``Sec-WebSocket-Protocol``, from Chromium: the handshake is not failed.

A page on another origin (``localhost``, while the WebSocket is on
``127.0.0.1``: the page's cookies do not go with the handshake) gets a ticket
from the ticket view and offers it beside subprotocols of its own. Chromium
fails a handshake whose 101 names none of the subprotocols it offered; djws
answers with the view's choice, or else the ticket entry itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .support import Server, run_server

pytestmark = pytest.mark.browser

OPEN = """async ([url, offer, withTicket]) => {
  const { ticket } = await (await fetch("/ws-ticket/")).json();
  const entry = "djws.ticket." + ticket;
  return await new Promise((resolve) => {
    const ws = new WebSocket(url, withTicket ? [...offer, entry] : offer);
    ws.onmessage = (event) => {
      const answer = JSON.parse(event.data);
      resolve({
        protocol: ws.protocol === entry ? "the ticket entry" : ws.protocol,
        user: answer.user, auth: answer.auth, session: answer.session,
      });
      ws.close();
    };
    ws.onclose = (event) => resolve({ closed: event.code });
  });
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server("--http") as server:
        yield server


@pytest.mark.parametrize(
    ("offer", "with_ticket", "outcome"),
    [
        (["chat.v1"], True, {"protocol": "chat.v1"}),
        (["chat.v9"], True, {"protocol": "the ticket entry"}),
        ([], True, {"protocol": "the ticket entry"}),
        (["chat.v9"], False, {"closed": 1006}),  # what the ticket entry's echo prevents
    ],
)
def test_chromium_opens_a_websocket_with_a_ticket_beside_its_subprotocols(
    server: Server, open_page: Any, offer: list[str], with_ticket: bool, outcome: dict[str, Any]
) -> None:
    page = open_page(f"http://localhost:{server.port}/login/b-alice/")
    result = page.evaluate(OPEN, [f"ws://127.0.0.1:{server.port}/auth/chat/", offer, with_ticket])
    if "closed" in outcome:
        assert result == outcome
    else:
        assert result == {**outcome, "user": "b-alice", "auth": "Ticket", "session": None}
