"""Exceptions raised by :mod:`djws.broadcast`.

Exception tree::

    Exception
    └── BroadcastError        the broadcast backend failed
        ├── PublishError      a message could not be stored by the backend:
        │                     it was *not* sent (Redis or PostgreSQL unreachable)
        ├── HistoryError      a group's history could not be read
        └── PresenceError     presence could not be read from the backend

A group name that is not a non-empty string of at most 256 characters, or that
starts with the reserved ``djws.`` prefix, raises ``ValueError``.
"""

from __future__ import annotations

__all__ = ["BroadcastError", "HistoryError", "PresenceError", "PublishError"]


class BroadcastError(Exception):
    """The broadcast backend could not do what was asked."""


class PublishError(BroadcastError):
    """The message was not published: the backend could not take it.

    Raised, never swallowed, so a publisher can retry, queue, or report: a
    broadcast that silently went nowhere is the bug djws's API is built to avoid.
    """


class HistoryError(BroadcastError):
    """A group's history could not be read: the backend is unreachable."""


class PresenceError(BroadcastError):
    """Presence could not be read: the backend is unreachable."""
