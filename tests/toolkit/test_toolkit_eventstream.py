"""djws.test opens Server-Sent Events: the test project's ``@event_stream`` views.

The stream is requested as ``EventSource`` requests it and resolved against
``WEBSOCKET_URLCONF`` (Django's own client resolves ``ROOT_URLCONF``: 404);
events are read as the browser reads them, and a reconnection with
``Last-Event-ID`` gets what was missed.
"""

# Written the way Django users write TestCase classes: assertEqual, not assert.
# ruff: noqa: PT009, PT027

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import TestCase

from djws import broadcast
from djws.test import Event, EventStreamRefused, WebSocketClient


class EventStreamTests(TestCase):
    client_class = WebSocketClient

    def test_published_messages_arrive_as_events(self) -> None:
        with self.client.event_stream("/events/es-room/") as events:
            assert events.response is not None
            self.assertEqual(events.response.status_code, 200)
            self.assertEqual(events.response["Content-Type"], "text/event-stream")
            events.assert_nothing_received()
            self.assertEqual(events.retry, 1000)  # sent first, before any event
            one = broadcast.publish("es-room", "one")
            two = broadcast.publish("es-room", {"text": "two\nlines"})
            self.assertEqual(events.receive(), Event("one", "message", f"es-room={one}"))
            event = events.receive()
            assert event is not None
            self.assertEqual(event.json(), {"text": "two\nlines"})
            self.assertEqual(event.last_event_id, f"es-room={two}")
            self.assertEqual(events.last_event_id, f"es-room={two}")

    def test_reconnecting_with_last_event_id_replays_what_was_missed(self) -> None:
        events = self.client.event_stream("/events/es-resume/", {"also": "es-other"})
        first = broadcast.publish("es-resume", "seen")
        epoch = str(first).partition(":")[0]
        self.assertEqual(
            events.receive(), Event("seen", "message", f"es-resume={first}&es-other={epoch}:0")
        )
        events.close()
        missed = [broadcast.publish("es-resume", "missed"), broadcast.publish("es-other", "too")]
        with events.reconnect() as again:
            self.assertEqual(
                again.receive(),
                Event("missed", "message", f"es-resume={missed[0]}&es-other={epoch}:0"),
            )
            self.assertEqual(
                again.receive(),
                Event("too", "message", f"es-resume={missed[0]}&es-other={missed[1]}"),
            )
            again.assert_nothing_received()
        with self.client.event_stream(
            "/events/es-resume/", last_event_id=f"es-resume={first}"
        ) as explicit:
            self.assertEqual(
                explicit.receive(), Event("missed", "message", f"es-resume={missed[0]}")
            )

    def test_binary_messages_and_resets_have_their_event_types(self) -> None:
        with self.client.event_stream(
            "/events/es-types/", last_event_id="es-types=0000dead:3"
        ) as events:
            reset = events.receive()
            assert reset is not None
            self.assertEqual((reset.event, reset.data), ("reset", "es-types"))
            broadcast.publish("es-types", b"\x00\xff")
            binary = events.receive()
            assert binary is not None
            self.assertEqual((binary.event, binary.data), ("binary", "AP8="))

    def test_event_streams_resolve_against_websocket_urlconf(self) -> None:
        self.assertEqual(self.client.get("/events/es-room/").status_code, 404)  # ROOT_URLCONF
        with self.client.event_stream("/events/es-room/") as events:  # WEBSOCKET_URLCONF
            assert events.response is not None
            self.assertEqual(events.response.status_code, 200)
        with self.assertRaises(EventStreamRefused) as refused:
            self.client.event_stream("/no-such-stream/")
        self.assertEqual(refused.exception.response.status_code, 404)
        self.assertEqual(
            str(refused.exception),
            "the event stream request to /no-such-stream/ was refused: 404 Not Found",
        )

    def test_the_projects_middleware_runs_login_required_included(self) -> None:
        with self.assertRaises(EventStreamRefused) as refused:
            self.client.event_stream("/events/private/")
        response = refused.exception.response
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response["Location"], "/accounts/login/?next=/events/private/")
        user = User.objects.create_user("ada")
        self.client.force_login(user)
        with self.client.event_stream("/events/private/") as events:
            broadcast.publish(f"private-{user.pk}", "for ada")
            event = events.receive()
            assert event is not None
            self.assertEqual(event.data, "for ada")

    def test_a_foreign_origin_is_refused(self) -> None:
        with self.assertRaises(EventStreamRefused) as refused:
            self.client.event_stream("/events/es-x/", origin="https://evil.example")
        self.assertEqual(refused.exception.response.status_code, 403)
        self.assertEqual(
            refused.exception.response.content, b"Origin not allowed for this event stream.\n"
        )

    def test_user_and_session_messages_arrive_but_stay_out_of_the_event_id(self) -> None:
        user = User.objects.create_user("grace")
        self.client.force_login(user)
        with self.client.event_stream("/events/private/") as events:
            group = broadcast.publish(f"private-{user.pk}", "in the group")
            self.assertEqual(
                events.receive(), Event("in the group", "message", f"private-{user.pk}={group}")
            )
            broadcast.send_to_user(user, "to grace")
            broadcast.send_to_session(self.client.session.session_key, "to the session")
            self.assertEqual(
                events.receive(), Event("to grace", "message", f"private-{user.pk}={group}")
            )
            self.assertEqual(
                events.receive(), Event("to the session", "message", f"private-{user.pk}={group}")
            )

    def test_the_how_to_example_resumes_after_a_drop(self) -> None:
        # docs/howto/server-sent-events.rst, on the test project's private stream.
        user = User.objects.create_user("ada")
        self.client.force_login(user)
        with self.client.event_stream("/events/private/") as events:
            broadcast.publish(f"private-{user.pk}", "first")
            self.assertEqual(events.receive().data, "first")  # type: ignore[union-attr]
        broadcast.publish(f"private-{user.pk}", "while away")
        with events.reconnect() as again:  # with Last-Event-ID, as the browser does
            self.assertEqual(again.receive().data, "while away")  # type: ignore[union-attr]

    def test_a_view_exception_is_raised_in_the_test(self) -> None:
        # The view joins the group named in its URL: a reserved name raises.
        with self.assertRaisesMessage(ValueError, "group names starting with 'djws.' are reserved"):
            self.client.event_stream("/events/djws.user.1/")

    def test_the_testing_how_to_example(self) -> None:
        # docs/howto/testing.rst, "Event streams", as written there.
        with self.client.event_stream("/events/room-1/") as events:
            position = broadcast.publish("room-1", {"text": "hi"})
            event = events.receive()
            assert event is not None
            self.assertEqual(event.json(), {"text": "hi"})
            self.assertEqual(event, Event('{"text": "hi"}', "message", f"room-1={position}"))
        broadcast.publish("room-1", "while away")
        with events.reconnect() as again:  # sends Last-Event-ID
            self.assertEqual(again.receive().data, "while away")  # type: ignore[union-attr]

    def test_receive_returns_none_once_the_server_ended_the_stream(self) -> None:
        from djws.eventstream import EventStream
        from djws.server.registry import registry

        with self.client.event_stream("/events/es-end/") as events:
            events.assert_nothing_received()  # the view's stream is registered now
            for connection in registry.snapshot():
                if isinstance(connection, EventStream):
                    connection.close()  # what a stopping worker does
            self.assertIsNone(events.receive())
            self.assertTrue(events.closed)

    def test_a_failure_of_the_server_itself_fails_the_test(self) -> None:
        from unittest import mock

        from djws.test import server

        def broken(*args: object) -> None:
            raise RuntimeError("broken access log")

        events = self.client.event_stream("/events/es-room/")
        events.assert_nothing_received()
        # The handler ends the stream with the access line: make that raise, as a bug would.
        with mock.patch.object(server._AccessLog, "access", broken):
            error = "djws's server raised while serving /events/es-room/: RuntimeError"
            with self.assertRaisesRegex(AssertionError, error):
                events.close()
