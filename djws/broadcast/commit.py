"""Publish when the transaction commits: nothing of a rolled-back transaction reaches a page.

A ``publish()`` made inside ``transaction.atomic()`` is about data that is not
committed yet; a page that showed it would show what may never exist. So it
waits, with Django's own ``transaction.on_commit()`` -- the rules Django
developers know: ``using`` names the database (``"default"`` unless given), a
publish in a savepoint that rolls back is discarded with it, and outside a
transaction nothing waits.

:func:`in_transaction` says whether a publish must wait: ``TestCase``'s own
transaction does not count (as for Django's ``durable`` blocks), so a test
that publishes outside an ``atomic()`` of its own still delivers at once.
:func:`defer` registers the publish; :func:`pending` lists those still waiting,
which the test client names when a test times out waiting for a message that
waits for a commit that never comes (``TestCase`` never commits:
``captureOnCommitCallbacks(execute=True)`` runs them).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections, transaction

__all__ = ["OnCommit", "defer", "in_transaction", "pending"]

_pending: weakref.WeakSet[OnCommit] = weakref.WeakSet()
_lock = threading.Lock()
_order = itertools.count()


def in_transaction(using: str | None = None) -> bool:
    """Tell whether ``DATABASES[using]``'s connection is inside an ``atomic()`` of the project's.

    Blocks opened by ``TestCase`` itself do not count. Never connects to the
    database: a process without one publishes at once.
    """
    connection = connections[using or DEFAULT_DB_ALIAS]
    if not connection.in_atomic_block:
        return False
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


class OnCommit:
    """A publish waiting for its transaction: the callback handed to ``on_commit()``.

    Runs its action once, even if ``captureOnCommitCallbacks(execute=True)``
    ran it before a real commit came. Django drops it when the transaction, or
    the savepoint it was registered in, rolls back; then nothing refers to it
    any more and it leaves :func:`pending` by itself.
    """

    __slots__ = ("__weakref__", "action", "done", "group", "order")

    def __init__(self, group: str, action: Callable[[], None] | None) -> None:
        #: The group (``djws.user.<pk>`` / ``djws.session.<key>`` for a user or session).
        self.group = group
        #: What to do at commit; None when the transaction itself carries the message.
        self.action = action
        self.done = False
        self.order = next(_order)

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        with _lock:
            _pending.discard(self)
        if self.action is not None:
            self.action()

    def __repr__(self) -> str:
        return f"<publish to {self.group!r} on commit>"


def defer(group: str, action: Callable[[], None] | None, using: str | None = None) -> None:
    """Run ``action`` when the transaction open on ``DATABASES[using]`` commits.

    ``robust``: an unexpected exception of the action is logged by Django and
    does not keep the transaction's other ``on_commit()`` callbacks from running
    (the action reports backend failures itself: :mod:`.outbox`).
    """
    callback = OnCommit(group, action)
    with _lock:
        _pending.add(callback)
    transaction.on_commit(callback, using=using or DEFAULT_DB_ALIAS, robust=True)


def pending() -> list[str]:
    """The groups of this process's publishes waiting for a commit, oldest first."""
    with _lock:
        waiting = [callback for callback in _pending if not callback.done]
    return [callback.group for callback in sorted(waiting, key=lambda c: c.order)]
