"""djws.live in-process: the exact markup of Turbo and htmx actions, what htmx sent, signed
streams, per-user renders and broadcasts_to, with the test project's templates and views.

They run here, in the process configured with the test project's settings
(tests/toolkit/conftest.py), because they render its templates and open its
WebSocket views with :class:`djws.test.WebSocketClient`. The same features are
tested against real servers and real browsers in tests/test_live_*.py and
tests/test_browser_live_*.py.
"""

# Written the way Django users write TestCase classes: assertEqual, not assert.
# ruff: noqa: PT009, PT027

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import Permission, User
from django.core import serializers, signing
from django.http import QueryDict
from django.test import SimpleTestCase, TestCase, override_settings
from django.utils.safestring import SafeString, mark_safe
from testproject.models import Message

from djws import broadcast, live
from djws.broadcast import GroupMessage
from djws.live import htmx, turbo
from djws.test import WebSocketClient

MESSAGE = Message(pk=3, stream="room", text="a < b")
ITEM = '<li id="message-3">a &lt; b</li>\n'

#: What htmx 2's ws extension (htmx-ext-ws 2.0.4, htmx 2.0.11) sent for the test
#: project's NoteForm, captured from Chromium: values, then HEADERS.
HTMX2 = (
    '{"title":"A & B","tags":["red","blue"],"sizes":["s","l"],"send":"yes",'
    '"HEADERS":{"HX-Request":"true","HX-Trigger":"note-form","HX-Trigger-Name":null,'
    '"HX-Target":"note-form","HX-Current-URL":"http://127.0.0.1:8772/live/htmx/2/"}}'
)
#: What htmx 4.0.1's hx-ws sent for the same form: values, then headers.
HTMX4 = (
    '{"title":"A & B","tags":["red","blue"],"sizes":["s","l"],"send":"yes",'
    '"headers":{"HX-Request":"true","HX-Source":"form#note-form",'
    '"HX-Current-URL":"http://127.0.0.1:8772/live/htmx/4/","HX-Target":"form#note-form"}}'
)


class TurboActionTests(SimpleTestCase):
    def test_append_renders_the_template_inside_a_template_element(self) -> None:
        html = turbo.append("messages", template="live/message.html", context={"message": MESSAGE})
        self.assertIsInstance(html, SafeString)
        self.assertEqual(
            html,
            '<turbo-stream action="append" target="messages"><template>'
            f"{ITEM}</template></turbo-stream>",
        )

    def test_every_action_with_a_string_escaped_and_safe_strings_kept(self) -> None:
        for name in ("append", "prepend", "replace", "update", "before", "after"):
            self.assertEqual(
                getattr(turbo, name)("box", "<b>&</b>"),
                f'<turbo-stream action="{name}" target="box"><template>'
                "&lt;b&gt;&amp;&lt;/b&gt;</template></turbo-stream>",
            )
        self.assertEqual(
            turbo.update("count", mark_safe("<b>12</b>")),
            '<turbo-stream action="update" target="count"><template><b>12</b></template>'
            "</turbo-stream>",
        )

    def test_attributes_are_escaped(self) -> None:
        self.assertEqual(
            turbo.remove('x" onclick="alert(1)'),
            '<turbo-stream action="remove" target="x&quot; onclick=&quot;alert(1)"></turbo-stream>',
        )

    def test_remove_refresh_targets_and_extra_attributes(self) -> None:
        self.assertEqual(
            turbo.remove("message-3"),
            '<turbo-stream action="remove" target="message-3"></turbo-stream>',
        )
        self.assertEqual(turbo.refresh(), '<turbo-stream action="refresh"></turbo-stream>')
        self.assertEqual(
            turbo.refresh(request_id="abc"),
            '<turbo-stream action="refresh" request-id="abc"></turbo-stream>',
        )
        self.assertEqual(
            turbo.replace(targets=".card", value="x", method="morph"),
            '<turbo-stream action="replace" targets=".card" method="morph"><template>x'
            "</template></turbo-stream>",
        )

    def test_mistakes_are_refused(self) -> None:
        with self.assertRaisesMessage(TypeError, "needs a target id or a targets selector"):
            turbo.append("a", "x", targets=".b")
        with self.assertRaisesMessage(TypeError, "needs a target id or a targets selector"):
            turbo.append(value="x")
        with self.assertRaisesMessage(ValueError, "not a Turbo Stream action name"):
            turbo.action("Append!", "a")
        with self.assertRaisesMessage(TypeError, "not both"):
            turbo.append("a", "x", template="live/message.html")

    def test_a_response_for_a_form_turbo_submitted(self) -> None:
        response = turbo.response(turbo.remove("a"), turbo.remove("b"), status=422)
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response["Content-Type"], "text/vnd.turbo-stream.html; charset=utf-8")
        self.assertEqual(
            response.content,
            b'<turbo-stream action="remove" target="a"></turbo-stream>'
            b'<turbo-stream action="remove" target="b"></turbo-stream>',
        )

    def test_per_user_content_is_wrapped_for_each_worker_to_render(self) -> None:
        action = turbo.append("messages", live.per_user("live/personal.html", {"n": 2}))
        self.assertIsInstance(action, live.PerUser)
        self.assertEqual(
            action.djws_wire(),
            b'r{"parts":["<turbo-stream action=\\"append\\" target=\\"messages\\"><template>",'
            b'{"template":"live/personal.html","context":{"n":2}},'
            b'"</template></turbo-stream>"]}',
        )


class HtmxSwapTests(SimpleTestCase):
    def test_swaps_wrap_the_content_out_of_band(self) -> None:
        styles = {
            "append": "beforeend",
            "prepend": "afterbegin",
            "before": "beforebegin",
            "after": "afterend",
            "update": "innerHTML",
        }
        for name, style in styles.items():
            self.assertEqual(
                getattr(htmx, name)("notes", "<b>"),
                f'<div hx-swap-oob="{style}:#notes">&lt;b&gt;</div>',
            )
        self.assertEqual(
            htmx.append("messages", template="live/message.html", context={"message": MESSAGE}),
            f'<div hx-swap-oob="beforeend:#messages">{ITEM}</div>',
        )
        self.assertEqual(
            htmx.update(targets=".count", value=2), '<div hx-swap-oob="innerHTML:.count">2</div>'
        )

    def test_replace_marks_the_element_itself(self) -> None:
        self.assertEqual(
            htmx.replace("message-3", template="live/message.html", context={"message": MESSAGE}),
            '<li hx-swap-oob="outerHTML:#message-3" id="message-3">a &lt; b</li>\n',
        )
        self.assertEqual(htmx.remove("message-3"), '<div hx-swap-oob="delete:#message-3"></div>')
        with self.assertRaisesMessage(ValueError, "the content is not an HTML element"):
            htmx.replace("message-3", "plain text")

    def test_per_user_content_and_replace(self) -> None:
        replaced = htmx.replace("greeting", live.per_user("live/personal.html", {"n": 1}))
        self.assertEqual(
            replaced.parts,
            (
                {
                    "template": "live/personal.html",
                    "context": {"n": 1},
                    "attributes": 'hx-swap-oob="outerHTML:#greeting"',
                },
            ),
        )

    def test_an_id_a_selector_cannot_name_is_refused(self) -> None:
        with self.assertRaisesMessage(ValueError, "is not an id a selector can name"):
            htmx.append("two words", "x")


class HtmxReadTests(SimpleTestCase):
    def expected(self) -> QueryDict:
        data = QueryDict(mutable=True)
        data["title"] = "A & B"
        data.setlist("tags", ["red", "blue"])
        data.setlist("sizes", ["s", "l"])
        data["send"] = "yes"
        return data

    def test_htmx_2(self) -> None:
        sent = htmx.read(HTMX2)
        self.assertEqual(sent.version, 2)
        self.assertEqual(sent.data, self.expected())
        self.assertEqual(sent.data.getlist("tags"), ["red", "blue"])
        self.assertFalse(sent.data._mutable)
        self.assertEqual(
            dict(sent.headers),
            {
                "HX-Request": "true",
                "HX-Trigger": "note-form",
                "HX-Target": "note-form",
                "HX-Current-URL": "http://127.0.0.1:8772/live/htmx/2/",
            },
        )
        self.assertEqual(sent.headers["hx-trigger"], "note-form")
        self.assertEqual(
            (sent.trigger, sent.trigger_name, sent.target, sent.current_url),
            ("note-form", None, "note-form", "http://127.0.0.1:8772/live/htmx/2/"),
        )

    def test_htmx_4(self) -> None:
        sent = htmx.read(HTMX4.encode())
        self.assertEqual(sent.version, 4)
        self.assertEqual(sent.data, self.expected())
        self.assertEqual(
            (sent.trigger, sent.trigger_name, sent.target, sent.current_url),
            ("note-form", None, "note-form", "http://127.0.0.1:8772/live/htmx/4/"),
        )

    def test_hx_vals_types(self) -> None:
        sent = htmx.read('{"n":2,"ok":true,"no":false,"gone":null,"x":[1.5,"y"],"headers":{}}')
        self.assertEqual(
            dict(sent.data.lists()),
            {"n": ["2"], "ok": ["true"], "no": ["false"], "x": ["1.5", "y"]},
        )

    def test_what_htmx_did_not_send_is_refused(self) -> None:
        for message in ("hello", "[1]", '{"title": "no headers"}'):
            with self.assertRaisesMessage(ValueError, "not an htmx message"):
                htmx.read(message)


class StreamNameTests(SimpleTestCase):
    def test_names_signatures_and_ids(self) -> None:
        self.assertEqual(live.stream_name(MESSAGE), "testproject.message:3")
        self.assertEqual(live.stream_name(MESSAGE, "edits", 2), "testproject.message:3:edits:2")
        self.assertEqual(live.unsign(live.sign(MESSAGE, "edits")), "testproject.message:3:edits")
        self.assertEqual(live.dom_id(MESSAGE), "message-3")
        self.assertEqual(live.dom_id(MESSAGE, "edit"), "edit-message-3")
        with self.assertRaisesMessage(ValueError, "reserved"):
            live.sign("djws.user.1")

    def test_a_changed_byte_or_another_salt_is_not_a_signature(self) -> None:
        token = live.sign("room")
        for at in (0, len(token) // 2, len(token) - 1):
            changed = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
            with self.assertRaises(signing.BadSignature):
                live.unsign(changed)
        with self.assertRaises(signing.BadSignature):
            live.unsign(signing.dumps("room"))  # signed, for something else

    @override_settings(WEBSOCKET_STREAM_MAX_AGE=0)
    def test_an_old_signature_expires(self) -> None:
        with self.assertRaises(signing.SignatureExpired):
            live.unsign(signing.dumps("room", salt="djws.live.stream", compress=False))


class CheckTests(SimpleTestCase):
    def test_the_stream_settings_are_checked(self) -> None:
        from djws.checks import check_live_streams

        self.assertEqual(check_live_streams(), [])  # the test project's own
        with override_settings(
            WEBSOCKET_STREAM_CHECKS={"a:*": "testproject.no_such_module.check", "b:*": 3},
            WEBSOCKET_STREAM_MAX_AGE="1 day",
        ):
            found = [(error.id, error.msg) for error in check_live_streams()]
        self.assertEqual(
            found,
            [
                (
                    "djws.E040",
                    "WEBSOCKET_STREAM_CHECKS['a:*'] cannot be imported: "
                    "No module named 'testproject.no_such_module'",
                ),
                ("djws.E040", "WEBSOCKET_STREAM_CHECKS['b:*'] is not callable: 3"),
                ("djws.E041", "WEBSOCKET_STREAM_MAX_AGE is '1 day', not a number of seconds."),
            ],
        )


def token(name: str) -> dict[str, str]:
    return {"stream": live.sign(name), "djws-html": "1"}


class EndpointTests(TestCase):
    client_class = WebSocketClient

    def test_a_signed_stream_is_streamed(self) -> None:
        with self.client.connect("/live/", token("room")) as ws:
            live.publish("room", turbo.remove("a"))
            self.assertEqual(
                ws.receive(), '<turbo-stream action="remove" target="a"></turbo-stream>'
            )

    def test_refusals_come_before_the_handshake(self) -> None:
        signed = live.sign("room")
        changed = signed[:-1] + ("A" if signed[-1] != "A" else "B")
        response = self.client.assert_refused("/live/", 403, data={"stream": changed})
        self.assertEqual(response.content, b"Forbidden: a stream name this site did not sign.\n")
        response = self.client.assert_refused("/live/", 400)
        self.assertIn(b"?stream=<signed name>", response.content)
        # Checks: private:<username> is that user's alone.
        response = self.client.assert_refused("/live/", 403, data=token("private:alice"))
        self.assertEqual(
            response.content,
            b"Forbidden: stream 'private:alice' refused by WEBSOCKET_STREAM_CHECKS.\n",
        )
        self.client.force_login(User.objects.create(username="alice"))
        with self.client.connect("/live/", token("private:alice")) as ws:
            ws.assert_nothing_received()

    def test_the_stream_only_listens(self) -> None:
        ws = self.client.connect("/live/", token("room"))
        ws.send("hello")
        ws.assert_closed(1003, "this stream only sends: post forms to a WebSocket view of your own")

    def test_a_user_s_pages_get_html_and_the_user_s_apps_json(self) -> None:
        user = User.objects.create(username="ada")
        self.client.force_login(user)
        page = self.client.connect("/live/", token("room"))
        app = self.client.connect("/whoami/")
        self.assertEqual(app.receive(), "ada")
        broadcast.send_to_user(user, {"unread": 3}, html=turbo.update("unread", "3"))
        self.assertEqual(
            page.receive(),
            '<turbo-stream action="update" target="unread"><template>3</template></turbo-stream>',
        )
        self.assertEqual(app.receive_json(), {"unread": 3})
        broadcast.send_to_user(user, html=turbo.update("unread", "4"))  # pages only
        broadcast.send_to_user(user, "for everyone")
        self.assertIn("4", page.receive())
        self.assertEqual(page.receive(), "for everyone")
        self.assertEqual(app.receive(), "for everyone")
        page.close()
        app.close()


class PerUserTests(TestCase):
    client_class = WebSocketClient

    def test_rendered_once_per_user_with_each_user_s_request(self) -> None:
        reader = User.objects.create(username="reader")
        reader.user_permissions.add(Permission.objects.get(codename="view_note"))
        sockets: dict[str, list[Any]] = {"reader": [], "other": [], "stranger": []}
        for name, count in (("reader", 4), ("other", 3), ("stranger", 2)):
            client = WebSocketClient()
            if name != "stranger":
                client.force_login(User.objects.get_or_create(username=name)[0])
            for _ in range(count):
                sockets[name].append(client.connect("/live/", token("room")))
        live.publish("room", live.per_user("live/personal.html", {"n": 7}))
        got = {name: [ws.receive().strip() for ws in group] for name, group in sockets.items()}
        renders = {}
        for name, texts in got.items():
            self.assertEqual(len(set(texts)), 1, texts)  # one render for all of a user's sockets
            renders[name] = int(texts[0].split('data-render="')[1].split('"')[0])
        self.assertEqual(len(set(renders.values())), 3)  # one per user: three in all
        self.assertEqual(max(renders.values()) - min(renders.values()), 2)
        self.assertIn(">Hello reader, reader of notes: 7</li>", got["reader"][0])
        self.assertIn(">Hello other: 7</li>", got["other"][0])
        self.assertIn(">Hello stranger: 7</li>", got["stranger"][0])
        for group in sockets.values():
            for ws in group:
                ws.close()

    def test_the_history_keeps_what_each_worker_renders(self) -> None:
        position = live.publish("kept", live.per_user("live/personal.html", {"n": 1}))
        found = broadcast.history("kept")
        self.assertEqual(found.position, position)
        [message] = found.messages
        self.assertIsInstance(message, GroupMessage)
        self.assertEqual(message.kind, "render")
        self.assertEqual(
            message.data,
            {"parts": [{"template": "live/personal.html", "context": {"n": 1}}]},
        )

    def test_a_render_that_fails_is_logged_and_sends_nothing(self) -> None:
        gone = Message.objects.create(stream="room", text="soon deleted")
        content = live.per_user("live/message.html", {"message": gone})
        with self.client.connect("/live/", token("room")) as ws:
            Message.objects.filter(pk=gone.pk).delete()
            with self.assertLogs("djws.broadcast", "ERROR") as logs:
                live.publish("room", content)
            self.assertIn(
                "Could not render a per-user message for an anonymous visitor", logs.output[0]
            )
            self.assertIn("Message matching query does not exist", logs.output[0])
            ws.assert_nothing_received()
            live.publish("room", "next")
            self.assertEqual(ws.receive(), "next")

    def test_instances_travel_by_reference(self) -> None:
        note = Message.objects.create(stream="room", text="first")
        wire = live.per_user("live/message.html", {"message": note}).djws_wire()
        self.assertEqual(
            json.loads(wire[1:])["parts"][0]["context"],
            {"message": {"djws.model": "testproject.message", "pk": note.pk}},
        )
        with self.assertRaisesMessage(TypeError, "cannot send an unsaved testproject.Message"):
            live.per_user("live/message.html", {"message": Message(text="x")}).djws_wire()


class BroadcastsToTests(TestCase):
    client_class = WebSocketClient

    def test_created_saved_and_deleted_after_the_commit(self) -> None:
        with self.client.connect("/live/", token("room")) as ws:
            with self.captureOnCommitCallbacks(execute=True):
                message = Message.objects.create(stream="room", text="hello")
                ws.assert_nothing_received(0.05)  # not before the commit
            pk = message.pk
            self.assertEqual(
                ws.receive(),
                '<turbo-stream action="append" target="messages"><template>'
                f'<li id="message-{pk}">hello</li>\n</template></turbo-stream>',
            )
            with self.captureOnCommitCallbacks(execute=True):
                message.text = "edited"
                message.save()
            self.assertEqual(
                ws.receive(),
                f'<turbo-stream action="replace" target="message-{pk}"><template>'
                f'<li id="message-{pk}">edited</li>\n</template></turbo-stream>',
            )
            with self.captureOnCommitCallbacks(execute=True):
                message.delete()
            self.assertEqual(
                ws.receive(),
                f'<turbo-stream action="remove" target="message-{pk}"></turbo-stream>',
            )

    def test_a_rolled_back_save_publishes_nothing(self) -> None:
        with self.client.connect("/live/", token("room")) as ws:
            with self.captureOnCommitCallbacks(execute=False) as callbacks:
                Message.objects.create(stream="room", text="never")
            self.assertEqual(len(callbacks), 1)  # waiting for a commit that never comes
            ws.assert_nothing_received(0.05)

    def test_rows_loaded_from_fixtures_are_not_published(self) -> None:
        fixture = json.dumps(
            [{"model": "testproject.message", "pk": 50, "fields": {"stream": "room", "text": "x"}}]
        )
        with self.client.connect("/live/", token("room")) as ws:
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                for row in serializers.deserialize("json", fixture):
                    row.save()  # as loaddata does: raw
            self.assertEqual(callbacks, [])
            ws.assert_nothing_received(0.05)
        self.assertTrue(Message.objects.filter(pk=50).exists())

    def test_two_broadcasters_of_one_model_and_template_both_publish(self) -> None:
        first = live.broadcasts_to(Message, lambda m: "one", template="live/message.html")
        second = live.broadcasts_to(Message, lambda m: "two", template="live/message.html")
        try:
            with (
                self.client.connect("/live/", token("one")) as one,
                self.client.connect("/live/", token("two")) as two,
            ):
                with self.captureOnCommitCallbacks(execute=True):
                    Message.objects.create(stream="room", text="both")
                self.assertIn("both", one.receive())
                self.assertIn("both", two.receive())
        finally:
            first.disconnect()
            second.disconnect()

    def test_htmx_format_and_another_target(self) -> None:
        broadcaster = live.broadcasts_to(
            Message, lambda m: "htmx-room", template="live/message.html", format="htmx"
        )
        try:
            with self.client.connect("/live/", token("htmx-room")) as ws:
                with self.captureOnCommitCallbacks(execute=True):
                    message = Message.objects.create(stream="room", text="hi")
                self.assertEqual(
                    ws.receive(),
                    f'<div hx-swap-oob="beforeend:#messages"><li id="message-{message.pk}">hi'
                    "</li>\n</div>",
                )
        finally:
            broadcaster.disconnect()
