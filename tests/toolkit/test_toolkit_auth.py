"""djws.test with tickets: what docs/howto/authentication.rst's Testing section shows."""

# Written the way Django users write TestCase classes: assertEqual, not assert.
# ruff: noqa: PT009

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import TestCase

from djws.auth import issue_ticket
from djws.test import WebSocketClient


class TicketTests(TestCase):
    client_class = WebSocketClient

    def test_a_ticket_opens_a_websocket_once_without_a_login(self) -> None:
        user = User.objects.create(username="ticket-holder")
        ticket = issue_ticket(user)
        with self.client.connect("/auth/whoami/", subprotocols=[f"djws.ticket.{ticket}"]) as ws:
            answer = ws.receive_json()
        self.assertEqual((answer["user"], answer["auth"]), ("ticket-holder", "Ticket"))
        response = self.client.assert_refused(
            "/auth/whoami/", 401, subprotocols=[f"djws.ticket.{ticket}"]
        )
        self.assertEqual(
            response.content,
            b"Invalid ticket (reused): get a new ticket, then open this WebSocket again.\n",
        )
