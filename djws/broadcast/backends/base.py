"""What every broadcast backend provides.

A backend moves wire bytes (:mod:`djws.broadcast.message`) between processes,
and keeps each group's recent history:

* :meth:`Backend.publish` from any process, any thread or greenlet: it numbers
  the message (a :class:`~djws.broadcast.position.Position`), stores it in the
  group's history and sends it, in one atomic step, and returns the position;
* :meth:`Backend.publish_in_transaction`: the same, written into the caller's
  open transaction, for a backend that lives in the project's database (only
  PostgreSQL with ``database://ALIAS``); the others return False, and the
  message is published after the commit (:mod:`djws.broadcast.commit`);
* :meth:`Backend.read`: the history of a group after an offset, which is how a
  worker fills a gap (after a reconnection, or a jump in offsets) and how a
  client resumes;
* :meth:`Backend.subscribe` / :meth:`~Backend.unsubscribe`, called by the
  worker's :class:`~djws.broadcast.hub.Hub` when a group gets its first local
  member or loses its last; received messages go to the hub's ``receive``
  (handed over by :meth:`Backend.start_serving`: backends never import it);
* presence: which connections, on which workers, are in a group.

The Redis and PostgreSQL backends share :class:`~.listening.ListeningBackend`.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..position import Position, Slice

__all__ = ["Backend", "Receiver", "redact"]


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class Receiver(Protocol):
    """What a backend delivers to: the hub of a process that serves WebSockets."""

    @property
    def worker_id(self) -> str: ...
    def receive(
        self, group: str, position: Position, wire: bytes, published_at: float | None = ...
    ) -> None: ...
    def confirmed(self, group: str) -> None: ...
    def presence_snapshot(self) -> list[tuple[str, str, str]]: ...
    def local_presence(self, group: str) -> list[dict[str, Any]]: ...


class Backend:
    """The interface the hub and the public API use."""

    #: Whether messages published here reach other processes.
    cross_process = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        presence_ttl: float,
        history_length: int = 1000,
        history_age: float = 300.0,
        timeout: float = 5.0,
        replicas: int = 0,
    ) -> None:
        self.url = url
        #: Replicas that must hold a message before publish() returns (Redis).
        self.replicas = replicas
        #: Seconds a call to the backend may take before it fails.
        self.timeout = timeout
        self.prefix = prefix
        self.presence_ttl = presence_ttl
        #: Messages kept per group, and for how many seconds at most.
        self.history_length = history_length
        self.history_age = history_age
        #: Where received messages go: the hub, in a process that serves WebSockets.
        self.receiver: Receiver | None = None

    @property
    def serving(self) -> bool:
        """Whether this process serves WebSockets (:meth:`start_serving` was called)."""
        return self.receiver is not None

    @property
    def hub(self) -> Receiver:
        """The receiver; only listening code, which runs in a serving process, uses it."""
        if self.receiver is None:
            raise RuntimeError("this process serves no WebSockets: nothing receives broadcasts")
        return self.receiver

    def publish(self, group: str, wire: bytes) -> Position:
        """Number, store and send ``wire`` to ``group``; return its position.

        Raise :class:`~djws.broadcast.PublishError` if the message was not stored.
        """
        raise NotImplementedError

    def publish_in_transaction(self, group: str, wire: bytes, using: str) -> bool:
        """Write ``wire`` into the transaction open on ``DATABASES[using]``; tell whether it did.

        True: the message is published when that transaction commits, and
        discarded if it rolls back. False (every backend but PostgreSQL on that
        same database): the caller publishes it after the commit instead. Raise
        :class:`~djws.broadcast.PublishError` if the write failed.
        """
        return False

    def read(self, group: str, after: int) -> Slice:
        """The group's stored messages after offset ``after``, with its epoch and head.

        Raise :class:`~djws.broadcast.HistoryError` if the backend is unreachable.
        """
        raise NotImplementedError

    def start_serving(self, receiver: Receiver) -> None:
        """This process serves WebSockets: deliver what is received to ``receiver``.

        Called by :class:`~djws.broadcast.backends.BackendManager`, maybe more than once.
        """
        self.receiver = receiver

    def subscribe(self, group: str) -> None:
        """Start receiving ``group``'s messages in this process."""

    def unsubscribe(self, group: str) -> None:
        """Stop receiving ``group``'s messages in this process."""

    def wait_subscribed(self, group: str, timeout: float) -> bool:
        """Wait until messages published to ``group`` from now on will arrive.

        Return False at once when the backend is known to be unreachable (the
        subscription is restored when it comes back) or after ``timeout``.
        """
        return True

    def presence_add(self, group: str, connection_id: str, entry: str) -> None:
        """Record that a local connection is in ``group``."""

    def presence_remove(self, group: str, connection_id: str) -> None:
        """Record that a local connection left ``group``."""

    def presence(self, group: str) -> list[dict[str, Any]]:
        """Every live connection in ``group``, on every worker."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (tests, and a changed setting)."""
