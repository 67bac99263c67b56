"""Publishing inside transaction.atomic() under TestCase, through djws.test's client.

TestCase's transaction never commits, so a message published inside an
``atomic()`` of the code under test waits, as it would for a real commit:
``captureOnCommitCallbacks(execute=True)`` runs the commit's callbacks, and a
test that waits for such a message without it is told why nothing came, with
the group. A rolled-back block, or savepoint, delivers nothing even then.
"""

# Written the way Django users write TestCase classes: assertEqual, not assert.
# ruff: noqa: PT009

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.test import TestCase, TransactionTestCase
from testproject.models import Note

from djws import broadcast
from djws.test import WebSocketClient, capture_broadcasts


class OnCommitTests(TestCase):
    client_class = WebSocketClient

    def test_a_message_published_in_atomic_arrives_when_the_commit_callbacks_run(self) -> None:
        with self.client.connect("/broadcast/member/tc-room/") as ws:
            self.assertEqual(ws.receive(), "joined")
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                ws.send("tx-commit hello")
                self.assertEqual(ws.receive(), "committed None")  # no position yet
                ws.assert_nothing_received()  # not before the commit
            self.assertEqual(len(callbacks), 1)
            self.assertEqual(ws.receive(), "hello")
            ws.assert_nothing_received()  # once
        self.assertTrue(Note.objects.filter(text="hello").exists())

    def test_waiting_for_a_message_that_waits_for_a_commit_names_the_cause(self) -> None:
        with self.client.connect("/broadcast/member/tc-stuck/") as ws:
            self.assertEqual(ws.receive(), "joined")
            ws.send("tx-commit stuck")
            self.assertEqual(ws.receive(), "committed None")
            with self.assertRaisesMessage(
                TimeoutError,
                "; a message published to group 'tc-stuck' inside transaction.atomic() waits "
                "for its transaction to commit, and TestCase never commits: run the code that "
                "publishes inside 'with self.captureOnCommitCallbacks(execute=True):'",
            ):
                ws.receive(timeout=0.3)

    def test_a_rolled_back_block_delivers_nothing_even_when_callbacks_run(self) -> None:
        with self.client.connect("/broadcast/member/tc-rollback/") as ws:
            self.assertEqual(ws.receive(), "joined")
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                ws.send("tx-rollback never")
                self.assertEqual(ws.receive(), "rolled back")
            self.assertEqual(callbacks, [])
            ws.assert_nothing_received(0.3)
        self.assertFalse(Note.objects.filter(text="never").exists())

    def test_a_rolled_back_savepoint_delivers_nothing_of_itself(self) -> None:
        with self.client.connect("/broadcast/member/tc-savepoint/") as ws:
            self.assertEqual(ws.receive(), "joined")
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                ws.send("tx-savepoint kept dropped")
                self.assertEqual(ws.receive(), "committed")
            self.assertEqual(len(callbacks), 1)
            self.assertEqual(ws.receive(), "kept")
            ws.assert_nothing_received(0.3)

    def test_the_test_itself_publishes_at_once_outside_an_atomic_of_its_own(self) -> None:
        # TestCase's own transaction does not count, as for Django's durable blocks.
        with self.client.connect("/broadcast/member/tc-direct/") as ws:
            self.assertEqual(ws.receive(), "joined")
            position = broadcast.publish("tc-direct", "now")
            self.assertIsInstance(position, broadcast.Position)
            self.assertEqual(ws.receive(), "now")
            with self.captureOnCommitCallbacks(execute=True), transaction.atomic():
                self.assertIsNone(broadcast.publish("tc-direct", "later"))
                self.assertIsInstance(
                    broadcast.publish("tc-direct", "progress", on_commit=False), broadcast.Position
                )
            self.assertEqual(ws.receive(), "progress")
            self.assertEqual(ws.receive(), "later")

    def test_capture_broadcasts_sees_what_the_commit_published(self) -> None:
        with capture_broadcasts() as sent, self.captureOnCommitCallbacks(execute=True):
            with transaction.atomic():
                broadcast.publish("tc-captured", {"n": 1})
                broadcast.send_to_user(7, "to user 7")
            self.assertEqual(sent, [])  # not before the commit
        self.assertEqual(sent, [("tc-captured", {"n": 1}), ("djws.user.7", "to user 7")])


class _RolledBackError(Exception):
    pass


class SignalTests(TestCase):
    """docs/howto/transactions.rst: a post_save receiver that publishes."""

    client_class = WebSocketClient

    def setUp(self) -> None:
        def note_saved(sender: Any, instance: Note, created: bool, **kwargs: Any) -> None:
            if created:
                broadcast.publish("tc-notes", instance.text)

        post_save.connect(note_saved, sender=Note)
        self.addCleanup(post_save.disconnect, note_saved, sender=Note)

    def test_a_receiver_publishes_at_once_or_when_the_save_commits(self) -> None:
        with self.client.connect("/broadcast/member/tc-notes/") as ws:
            self.assertEqual(ws.receive(), "joined")
            Note.objects.create(text="autocommit")
            self.assertEqual(ws.receive(), "autocommit")
            with self.captureOnCommitCallbacks(execute=True):
                with transaction.atomic():
                    Note.objects.create(text="in atomic")
                ws.assert_nothing_received()
            self.assertEqual(ws.receive(), "in atomic")
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                try:
                    with transaction.atomic():
                        Note.objects.create(text="rolled back")
                        raise _RolledBackError
                except _RolledBackError:
                    pass
            self.assertEqual(callbacks, [])
            ws.assert_nothing_received()


class OnCommitInTransactionTestCaseTests(TransactionTestCase):
    """Without TestCase's transaction, a commit is real: nothing more is needed."""

    client_class = WebSocketClient

    def test_the_commit_sends_the_message(self) -> None:
        with self.client.connect("/broadcast/member/ttc-room/") as ws:
            self.assertEqual(ws.receive(), "joined")
            ws.send("tx-commit real")
            # Sent by the commit, inside the view's atomic() exit: before its reply.
            self.assertEqual([ws.receive(), ws.receive()], ["real", "committed None"])
            ws.send("tx-rollback unreal")
            self.assertEqual(ws.receive(), "rolled back")
            ws.assert_nothing_received(0.3)
