"""djws.test in Django's TestCase and TransactionTestCase: the test project's views.

Each test is what a user writes about their own views; together they show that
the client goes through the whole stack (handshake, middleware, sessions, auth,
the view) and that the test and the view see the same database.
"""

# Written the way Django users write TestCase classes: assertEqual, not assert.
# ruff: noqa: PT009, PT027

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import TestCase, TransactionTestCase, override_settings
from gevent import monkey
from testproject.models import Note

from djws.test import HandshakeRefused, WebSocketClient


class MessagesTests(TestCase):
    client_class = WebSocketClient

    def test_echo_of_text_and_binary_then_a_normal_close(self) -> None:
        with self.client.connect("/echo/") as ws:
            ws.send("héllo")
            self.assertEqual(ws.receive(), "héllo")
            ws.send(b"\x00\xff")
            self.assertEqual(ws.receive(), b"\x00\xff")
        self.assertEqual(ws.close_code, 1000)
        self.assertTrue(ws.closed)

    def test_json_helpers(self) -> None:
        with self.client.connect("/echo/") as ws:
            ws.send_json({"a": [1, 2]})
            self.assertEqual(ws.receive_json(), {"a": [1, 2]})

    def test_view_chosen_close_code_and_reason(self) -> None:
        ws = self.client.connect("/close/4000/", {"reason": "see you"})
        ws.assert_closed(4000, "see you")
        self.assertEqual(ws.receive(), None)

    def test_returning_view_closes_with_1000(self) -> None:
        ws = self.client.connect("/stamp/")
        self.assertEqual(ws.receive(), "stamped")  # the project's MIDDLEWARE ran
        self.assertEqual(ws.wait_closed(), 1000)

    def test_assert_closed_names_both_codes_when_they_differ(self) -> None:
        ws = self.client.connect("/close/4000/")
        with self.assertRaisesMessage(
            AssertionError,
            "expected /close/4000/ to close with 1000 (OK), but it closed with 4000 (private use)",
        ):
            ws.assert_closed(1000)

    def test_client_close_code_reaches_the_server(self) -> None:
        ws = self.client.connect("/echo/")
        ws.close(4321, "bye")
        self.assertEqual((ws.close_code, ws.close_reason), (4321, "bye"))

    def test_subprotocol_negotiation(self) -> None:
        with self.client.connect("/subprotocol/", subprotocols=["chat.v1"]) as ws:
            self.assertEqual(ws.subprotocol, "chat.v1")
            self.assertEqual(ws.receive(), "chat.v1")

    def test_compression_can_be_offered(self) -> None:
        with self.client.connect("/echo/", compression=True) as ws:
            self.assertIn("permessage-deflate", ws.response.headers["Sec-WebSocket-Extensions"])
            ws.send("squeeze me " * 100)
            self.assertEqual(ws.receive(), "squeeze me " * 100)

    def test_items_delivered_by_another_greenlet_arrive(self) -> None:
        with self.client.connect("/deliver/") as ws:
            received = [ws.receive() for _ in range(3)]
        self.assertEqual(received, ["tick 0", "tick 1", "tick 2"])

    def test_silence_is_asserted_and_receive_times_out(self) -> None:
        with self.client.connect("/whoami/") as ws:
            self.assertEqual(ws.receive(), "anonymous")
            ws.assert_nothing_received(0.05)
            with self.assertRaisesMessage(TimeoutError, "waiting for a message from /whoami/"):
                ws.receive(timeout=0.05)

    def test_assert_nothing_received_fails_on_a_message(self) -> None:
        with (
            self.client.connect("/whoami/") as ws,
            self.assertRaisesMessage(
                AssertionError, "expected no message from /whoami/, got 'anonymous'"
            ),
        ):
            ws.assert_nothing_received()

    def test_the_process_is_not_monkey_patched(self) -> None:
        with self.client.connect("/echo/") as ws:
            ws.send("x")
            ws.receive()
        self.assertFalse(monkey.is_module_patched("socket"))
        self.assertFalse(monkey.is_module_patched("threading"))


class RefusalTests(TestCase):
    client_class = WebSocketClient

    def test_no_route_is_a_real_404(self) -> None:
        response = self.client.assert_refused("/no-such-route/", 404)
        self.assertIn(b"Not Found", response.content)

    def test_connect_raises_handshake_refused_with_the_response(self) -> None:
        with self.assertRaises(HandshakeRefused) as refused:
            self.client.connect("/echo")  # CommonMiddleware's APPEND_SLASH
        self.assertEqual(refused.exception.response.status_code, 301)
        self.assertEqual(
            str(refused.exception),
            "the WebSocket handshake to /echo was refused: 301 Moved Permanently "
            "(Location: /echo/)",
        )

    def test_login_required_is_403_naming_the_login_page(self) -> None:
        response = self.client.assert_refused("/private/", 403)
        self.assertEqual(
            response.content,
            b"Authentication required: log in at /accounts/login/, then open this "
            b"WebSocket again.\n",
        )

    @override_settings(
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.auth.middleware.LoginRequiredMiddleware",
        ]
    )
    def test_login_required_middleware_is_403_naming_the_login_page(self) -> None:
        response = self.client.assert_refused("/whoami/", 403)
        self.assertEqual(
            response.content,
            b"Authentication required: log in at /accounts/login/, then open this "
            b"WebSocket again.\n",
        )

    def test_permission_denied_is_403(self) -> None:
        self.client.force_login(User.objects.create(username="ada"))
        self.client.assert_refused("/forbidden/", 403)

    def test_middleware_can_refuse(self) -> None:
        response = self.client.assert_refused("/blocked-by-middleware/", 418)
        self.assertEqual(response.content, b"blocked")

    def test_foreign_origin_is_403(self) -> None:
        response = self.client.assert_refused("/echo/", 403, origin="https://evil.example")
        self.assertEqual(response.content, b"Origin not allowed for this WebSocket.\n")

    @override_settings(WEBSOCKET_ALLOWED_ORIGINS=["https://evil.example"])
    def test_allowed_origins_follow_override_settings(self) -> None:
        with self.client.connect("/echo/", origin="https://evil.example") as ws:
            ws.send("ok")
            self.assertEqual(ws.receive(), "ok")

    def test_assert_refused_fails_when_the_view_accepts(self) -> None:
        with self.assertRaisesMessage(
            AssertionError, "expected the WebSocket handshake to /echo/ to be refused"
        ):
            self.client.assert_refused("/echo/")

    def test_assert_refused_names_both_statuses_when_they_differ(self) -> None:
        with self.assertRaisesMessage(
            AssertionError,
            "expected the handshake to /private/ to be refused with 302 Found, got 403 Forbidden",
        ):
            self.client.assert_refused("/private/", 302)


class ExplicitAcceptTests(TestCase):
    """Views with @websocket(auto_accept=False), through the test client."""

    client_class = WebSocketClient

    def test_the_view_chooses_the_subprotocol_and_headers(self) -> None:
        with self.client.connect("/accept/chosen/", subprotocols=["a", "b"]) as ws:
            self.assertEqual(ws.subprotocol, "b")
            assert ws.response is not None
            self.assertEqual(ws.response.headers["X-Offered"], "a, b")
            self.assertEqual(ws.receive(), "accepted b")

    def test_the_views_refusal_is_the_response(self) -> None:
        response = self.client.assert_refused("/accept/room/lobby/", 403)
        self.assertEqual(response.content, b"Members only.\n")

    def test_a_view_that_neither_accepts_nor_refuses_raises_in_the_test(self) -> None:
        with self.assertRaisesMessage(
            ValueError,
            "The WebSocket view testproject.accept_views.forgot returned None without "
            "accepting the connection.",
        ):
            self.client.connect("/accept/forgot/")


class AuthenticationTests(TestCase):
    client_class = WebSocketClient

    def test_anonymous_without_login(self) -> None:
        with self.client.connect("/whoami/") as ws:
            self.assertEqual(ws.receive(), "anonymous")

    def test_force_login(self) -> None:
        self.client.force_login(User.objects.create(username="ada"))
        with self.client.connect("/private/") as ws:
            self.assertEqual(ws.receive(), "hello ada")

    def test_login_with_a_password(self) -> None:
        User.objects.create_user(username="grace", password="hopper-1906")
        self.assertTrue(self.client.login(username="grace", password="hopper-1906"))
        with self.client.connect("/whoami/") as ws:
            self.assertEqual(ws.receive(), "grace")

    def test_logout(self) -> None:
        self.client.force_login(User.objects.create(username="ada"))
        self.client.logout()
        self.client.assert_refused("/private/", 403)

    def test_login_through_an_http_view_shares_the_session_cookie(self) -> None:
        self.assertEqual(self.client.get("/login/linus/").content, b"logged in as linus")
        with self.client.connect("/whoami/") as ws:
            self.assertEqual(ws.receive(), "linus")

    def test_permission_granted_to_the_test_user(self) -> None:
        user = User.objects.create(username="ada")
        user.user_permissions.add(Permission.objects.get(codename="view_note"))
        self.client.force_login(user)
        with self.client.connect("/whoami/") as ws:
            self.assertEqual(ws.receive(), "ada")
        self.assertTrue(User.objects.get(username="ada").has_perm("testproject.view_note"))

    def test_session_written_by_the_view_is_saved_before_close_returns(self) -> None:
        self.client.get("/")  # the HTTP view counts visits in the session
        with self.client.connect("/session/") as ws:
            self.assertEqual(ws.receive(), "visits=1")
            ws.send("hello from the socket")
            ws.wait_closed()
        self.assertEqual(self.client.session["from_websocket"], "hello from the socket")


class DatabaseInTestCaseTests(TestCase):
    """Inside TestCase's transaction, the view and the test share one connection."""

    client_class = WebSocketClient

    def test_the_view_sees_rows_the_test_created(self) -> None:
        Note.objects.create(text="from the test")
        with self.client.connect("/db/count/") as ws:
            ws.send("from the test")
            self.assertEqual(ws.receive(), "1")

    def test_the_test_sees_rows_the_view_wrote(self) -> None:
        with self.client.connect("/db/write/") as ws:
            ws.send("commit from the view")
            self.assertEqual(ws.receive(), "committed")
            self.assertEqual(Note.objects.filter(text="from the view").count(), 1)

    def test_a_rollback_in_the_view_is_a_rollback(self) -> None:
        with self.client.connect("/db/write/") as ws:
            ws.send("rollback undone")
            self.assertEqual(ws.receive(), "written")
            ws.send("now")
            self.assertEqual(ws.receive(), "rolled back")
        self.assertFalse(Note.objects.filter(text="undone").exists())

    def test_close_old_connections_is_reattached_after_the_handshake(self) -> None:
        # Detached while the request starts and ends, like django.test.Client
        # does, so the test's transaction survives; present again afterwards.
        with self.client.connect("/echo/") as ws:
            self.assertTrue(_connected(request_started))
            ws.send("x")
            ws.receive()
        self.assertTrue(_connected(request_started))
        self.assertTrue(_connected(request_finished))


def _connected(signal: object) -> bool:
    return any(ref() is close_old_connections for _key, ref, *_ in signal.receivers)


class ExceptionTests(TestCase):
    client_class = WebSocketClient

    def test_view_exception_is_re_raised_in_the_test(self) -> None:
        ws = self.client.connect("/raise/")
        ws.send("go")
        with self.assertRaisesMessage(ValueError, "boom from a WebSocket view"):
            ws.wait_closed()
        self.assertEqual(ws.close_code, 1011)

    def test_exception_before_accept_is_re_raised_like_django_client(self) -> None:
        with self.assertRaisesMessage(RuntimeError, "failed before accept"):
            self.client.connect("/broken-before-accept/")

    def test_without_raise_request_exception_the_client_sees_1011(self) -> None:
        client = WebSocketClient(raise_request_exception=False)
        ws = client.connect("/raise/")
        ws.send("go")
        ws.assert_closed(1011, "internal server error")

    def test_assert_closed_describes_codes_and_reasons(self) -> None:
        client = WebSocketClient(raise_request_exception=False)
        ws = client.connect("/raise/")
        ws.send("go")
        with self.assertRaisesMessage(
            AssertionError,
            "expected /raise/ to close with 1000 (OK), but it closed with "
            "1011 (internal error) internal server error",
        ):
            ws.assert_closed()

    def test_without_raise_request_exception_an_early_error_is_a_500(self) -> None:
        client = WebSocketClient(raise_request_exception=False)
        client.assert_refused("/broken-before-accept/", 500)


class DatabaseInTransactionTestCaseTests(TransactionTestCase):
    """Without TestCase's transaction, the view's writes are committed for real."""

    client_class = WebSocketClient

    def test_committed_writes_of_the_view_and_the_test(self) -> None:
        Note.objects.create(text="test row")
        with self.client.connect("/db/write/") as ws:
            ws.send("commit view row")
            self.assertEqual(ws.receive(), "committed")
        with self.client.connect("/db/count/") as ws:
            ws.send("test row")
            self.assertEqual(ws.receive(), "1")
        self.assertEqual(
            sorted(Note.objects.values_list("text", flat=True)), ["test row", "view row"]
        )

    def test_rows_do_not_leak_between_transaction_test_cases(self) -> None:
        self.assertEqual(Note.objects.count(), 0)
        with self.client.connect("/db/write/") as ws:
            ws.send("rollback never kept")
            self.assertEqual(ws.receive(), "written")
            ws.send("now")
            self.assertEqual(ws.receive(), "rolled back")
        self.assertEqual(Note.objects.count(), 0)
