"""Record what is published while a test runs: :func:`capture_broadcasts`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

__all__ = ["Broadcast", "capture_broadcasts"]


class Broadcast(NamedTuple):
    """One message published while :func:`capture_broadcasts` was listening."""

    #: The group, or for ``send_to_user`` / ``send_to_session`` the reserved
    #: group of that user or session (``djws.user.<pk>``, ``djws.session.<key>``).
    group: str
    #: What was published: ``str``, ``bytes``, or the JSON object, decoded.
    message: Any


class _CapturingBackend:
    """The real broadcast backend, recording what goes through its ``publish``."""

    def __init__(self, backend: Any, captured: list[Broadcast]) -> None:
        self._backend = backend
        self._captured = captured

    def publish(self, group: str, wire: bytes) -> Any:
        from ..broadcast.message import GroupMessage, split_target
        from ..broadcast.names import TARGETS

        target, payload = split_target(wire) if group == TARGETS else (group, wire)
        self._captured.append(Broadcast(target, GroupMessage(target, payload).data))
        return self._backend.publish(group, wire)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@contextmanager
def capture_broadcasts() -> Iterator[list[Broadcast]]:
    """Record every message published while the block runs, in order.

    Yields a list that fills with :class:`Broadcast` ``(group, message)``
    tuples; messages are still delivered. It sees every public way to send --
    :func:`djws.broadcast.publish`, ``send_to_user``, ``send_to_session`` --
    from views, the test itself or any code they call::

        with capture_broadcasts() as sent:
            ws.send_json({"text": "hi"})
            ws.receive_json()
        assert sent == [("room-1", {"text": "hi"})]

    Only this process's publishes are seen, which in a test is all of them.
    """
    from .. import broadcast
    from ..broadcast.backends import backends, get_backend
    from ..broadcast.hub import hub

    # As WebSocketClient does: the test process delivers its own broadcasts.
    backends.serve(hub, in_process=True)

    def capturing_get_backend() -> Any:
        return _CapturingBackend(get_backend(), captured)

    # publish() and friends look get_backend up in their module on every call,
    # so replacing it there catches them however they were imported.
    captured: list[Broadcast] = []
    broadcast.get_backend = capturing_get_backend  # type: ignore[attr-defined]
    try:
        yield captured
    finally:
        broadcast.get_backend = get_backend  # type: ignore[attr-defined]
