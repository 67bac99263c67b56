"""djws.test on djws's built-in servers (echo, ping, chat), as a project includes them."""

# Written the way Django users write TestCase classes: assertEqual, not assert.
# ruff: noqa: PT009

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import TestCase, override_settings

from djws import broadcast
from djws.contrib.chat.models import ChatMessage
from djws.contrib.chat.views import group_name
from djws.test import WebSocketClient, capture_broadcasts


@override_settings(WEBSOCKET_URLCONF="tests.toolkit.websocket_urls")
class EchoServerTests(TestCase):
    client_class = WebSocketClient

    def test_text_comes_back_as_text_and_binary_as_binary(self) -> None:
        with self.client.connect("/ws/echo/") as ws:
            ws.send("text")
            ws.send(b"\x01\x02")
            ws.send("")
            self.assertEqual([ws.receive(), ws.receive(), ws.receive()], ["text", b"\x01\x02", ""])
        self.assertEqual(ws.close_code, 1000)


@override_settings(WEBSOCKET_URLCONF="tests.toolkit.websocket_urls")
class PingServerTests(TestCase):
    client_class = WebSocketClient

    def test_ping_gets_pong_and_pong_gets_ping(self) -> None:
        with self.client.connect("/ws/ping/") as ws:
            ws.send("ping")
            self.assertEqual(ws.receive(), "pong")
            ws.send("pong")
            self.assertEqual(ws.receive(), "ping")

    def test_anything_else_gets_no_answer(self) -> None:
        with self.client.connect("/ws/ping/") as ws:
            ws.send("hello")
            ws.send(b"ping")
            ws.assert_nothing_received()


@override_settings(WEBSOCKET_URLCONF="tests.toolkit.websocket_urls")
class ChatServerTests(TestCase):
    client_class = WebSocketClient

    def test_a_message_reaches_everyone_in_the_room_and_is_stored(self) -> None:
        with (
            self.client.connect("/ws/chat/lobby/") as ada,
            self.client.connect("/ws/chat/lobby/") as grace,
        ):
            history = {"type": "history", "room": "lobby", "messages": [], "reloaded": False}
            self.assertEqual(ada.receive_json(), history)
            self.assertEqual(grace.receive_json()["messages"], [])
            with capture_broadcasts() as sent:
                ada.send_json({"name": "Ada", "color": "#1F77B4", "text": "Hello"})
                to_ada, to_grace = ada.receive_json(), grace.receive_json()
        stored = ChatMessage.objects.get()
        expected = {
            "type": "message",
            "id": stored.id,
            "room": "lobby",
            "name": "Ada",
            "color": "#1f77b4",
            "text": "Hello",
            "time": stored.created.isoformat(),
        }
        self.assertEqual(to_ada, expected)
        self.assertEqual(to_grace, expected)
        self.assertEqual(sent, [(group_name("lobby"), expected)])

    def test_newcomers_get_the_history_the_test_created(self) -> None:
        ChatMessage.objects.create(room="lobby", name="Linus", color="#000000", text="first")
        ChatMessage.objects.create(room="other", name="Linus", color="#000000", text="elsewhere")
        with self.client.connect("/ws/chat/lobby/") as ws:
            history = ws.receive_json()
        self.assertEqual([m["text"] for m in history["messages"]], ["first"])

    def test_an_invalid_message_is_answered_to_its_sender_only_and_not_broadcast(self) -> None:
        with self.client.connect("/ws/chat/") as ws, capture_broadcasts() as sent:
            ws.receive_json()
            ws.send_json({"name": "Ada", "color": "blue", "text": "Hello"})
            self.assertEqual(
                ws.receive_json(),
                {
                    "type": "error",
                    "errors": {"color": ["Enter a colour as #rrggbb, for example #1f77b4."]},
                },
            )
        self.assertEqual(sent, [])
        self.assertFalse(ChatMessage.objects.exists())


class CaptureBroadcastsTests(TestCase):
    client_class = WebSocketClient

    def test_every_public_way_to_send_is_captured_in_order(self) -> None:
        user = User.objects.create(username="ada")
        with capture_broadcasts() as sent:
            broadcast.publish("room-1", "text")
            broadcast.publish("room-1", b"\\x00")
            broadcast.publish("room-2", {"n": 1})
            broadcast.send_to_user(user, "to ada")
            broadcast.send_to_session("abc123", "to a session")
        self.assertEqual(
            sent,
            [
                ("room-1", "text"),
                ("room-1", b"\\x00"),
                ("room-2", {"n": 1}),
                (f"djws.user.{user.pk}", "to ada"),
                ("djws.session.abc123", "to a session"),
            ],
        )
        self.assertEqual(sent[2].group, "room-2")
        self.assertEqual(sent[2].message, {"n": 1})

    def test_nothing_is_captured_outside_the_block(self) -> None:
        with capture_broadcasts() as sent:
            pass
        broadcast.publish("room-1", "after")
        self.assertEqual(sent, [])
