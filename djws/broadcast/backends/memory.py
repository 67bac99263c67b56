"""``memory://``: broadcast inside one process, no service needed.

The default, for development and single-worker deployments: ``publish`` hands
the message straight to this process's hub. It cannot reach another worker or
machine, so ``runwebsocket --workers 2`` with it is a system check error
(``djws.E021``), and publishing from a process that serves no WebSockets (the
shell, a management command, a Celery worker) warns: nobody there will get it.
"""

from __future__ import annotations

import warnings
from typing import Any

from ...server.registry import registry
from .base import Backend

__all__ = ["MemoryBackend", "OutsideServerWarning"]


class OutsideServerWarning(RuntimeWarning):
    """memory:// was used to publish from a process that serves no WebSockets."""


class MemoryBackend(Backend):
    """Deliver to this process's connections only."""

    cross_process = False

    def publish(self, group: str, wire: bytes) -> None:
        if not registry.serving:
            warnings.warn(
                "WEBSOCKET_BROADCAST_URL is 'memory://', which only reaches WebSockets "
                "served by this same process, and this process serves none: the message "
                "reaches nobody. Use a redis:// or postgresql:// URL to publish from "
                "management commands, the shell or task queues.",
                OutsideServerWarning,
                stacklevel=4,
            )
        if self.receiver is not None:
            self.receiver.dispatch(group, wire)

    def presence(self, group: str) -> list[dict[str, Any]]:
        if self.receiver is None:
            return []
        return sorted(self.receiver.local_presence(group), key=lambda e: e["connection"])
