from django.contrib.auth.models import User
from django.test import TestCase

from djws.test import WebSocketClient, capture_broadcasts


class RoomTests(TestCase):
    client_class = WebSocketClient

    def test_page_points_at_the_websocket(self):
        response = self.client.get("/chat/lobby/")
        self.assertContains(response, 'new WebSocket("ws://testserver:8001/chat/lobby/")')

    def test_messages_reach_everyone_in_the_room(self):
        self.client.force_login(User.objects.create_user("ada"))
        with self.client.connect("/chat/lobby/") as ada, self.client.connect(
            "/chat/lobby/"
        ) as other:
            with capture_broadcasts() as sent:
                ada.send("Hello")
                self.assertEqual(ada.receive_json(), {"author": "ada", "text": "Hello"})
                self.assertEqual(other.receive_json(), {"author": "ada", "text": "Hello"})
        self.assertEqual(sent, [("chat-lobby", {"author": "ada", "text": "Hello"})])

    def test_an_announcement_from_a_page_reaches_the_room(self):
        with self.client.connect("/chat/lobby/") as ws:
            response = self.client.post("/chat/lobby/announce/", {"text": "Closing soon"})
            self.assertRedirects(response, "/chat/lobby/")
            self.assertEqual(ws.receive_json(), {"author": "announcement", "text": "Closing soon"})

    def test_blank_messages_are_ignored(self):
        with self.client.connect("/chat/lobby/") as ws:
            ws.send("   ")
            ws.assert_nothing_received()
