"""``memory://``: broadcast inside one process, no service needed.

The default, for development and single-worker deployments: ``publish`` hands
the message straight to this process's hub. It cannot reach another worker or
machine, so ``runwebsocket --workers 2`` with it is a system check error
(``djws.E021``), and publishing from a process that serves no WebSockets (the
shell, a management command, a Celery worker) warns: nobody there will get it.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from .base import Backend

__all__ = ["MemoryBackend", "OutsideServerWarning"]


class OutsideServerWarning(RuntimeWarning):
    """memory:// was used to publish from a process that serves no WebSockets."""


def serving() -> bool:
    """Tell whether this process serves WebSockets.

    A djws worker has loaded the worker class; djws's test client serves views
    from the test process itself.
    """
    if "djws.worker" in sys.modules or "djws.test" in sys.modules:
        return True
    from ...connection import open_connections

    return bool(open_connections)


class MemoryBackend(Backend):
    """Deliver to this process's connections only."""

    cross_process = False

    def publish(self, group: str, wire: bytes) -> None:
        if not serving():
            warnings.warn(
                "WEBSOCKET_BROADCAST_URL is 'memory://', which only reaches WebSockets "
                "served by this same process, and this process serves none: the message "
                "reaches nobody. Use a redis:// or postgresql:// URL to publish from "
                "management commands, the shell or task queues.",
                OutsideServerWarning,
                stacklevel=4,
            )
        self.hub.dispatch(group, wire)

    def presence(self, group: str) -> list[dict[str, Any]]:
        return sorted(self.hub.local_presence(group), key=lambda e: e["connection"])
