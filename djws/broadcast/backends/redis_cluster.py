"""The listener's connections to a Redis Cluster: sharded pub/sub, one per primary.

A group's channel (``<prefix>:group:{<group>}``) lives in its hash slot, on the
primary that owns the slot, with the group's stream and counter. Messages are
published there with ``SPUBLISH`` (Redis 7) and stay on that shard: a classic
``PUBLISH`` in a Cluster is copied to every node. So a worker holds one
subscribing connection per primary that owns one of its groups
(``SSUBSCRIBE``), and a reader greenlet on each.

When a slot moves (a reshard) Redis ends the subscriptions of its channels
(``sunsubscribe``): the group is subscribed again on the slot's new owner, and
its confirmation makes the hub read what it missed meanwhile from the history.
When a node fails (a failover promotes its replica) or refuses a subscription
(``MOVED``), the whole listener reconnects with a fresh slot map, as after any
outage.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

__all__ = ["ClusterListener"]

logger = logging.getLogger("djws.broadcast")


class ClusterListener:
    """One subscribing connection per primary, for one connection of the listener."""

    def __init__(self, backend: Any, client: Any) -> None:
        #: The :class:`~.redis.RedisBackend` it subscribes for (not imported: it imports this).
        self.backend = backend
        self.client = client
        #: "host:port" -> subscribing connection.
        self.conns: dict[str, Any] = {}
        self._readers: list[Any] = []
        self._failed: Any = None

    def _node_of(self, group: str) -> tuple[str, int]:
        slot = self.client.keyslot(self.backend._channel(group))
        node = self.client.nodes_manager.get_node_from_slot(slot)
        return node.host, int(node.port)

    def _conn_for(self, group: str) -> Any:
        """The connection to the primary owning ``group``'s slot (opened if needed)."""
        import gevent

        host, port = self._node_of(group)
        name = f"{host}:{port}"
        conn = self.conns.get(name)
        if conn is None:
            conn = self.backend.shape.connect((host, port), **self.backend.listener_options())
            self.conns[name] = conn
            self._readers.append(gevent.spawn(self._read, conn))
        return conn

    def _read(self, conn: Any) -> None:
        try:
            self.backend.read_replies(conn, moved=self._moved)
        except Exception as exc:  # noqa: BLE001 - handed to run(), which raises it
            if self._failed is not None and not self._failed.ready():
                self._failed.set_exception(exc)

    def run(self) -> None:
        """Subscribe every wanted group on its primary, then read until a connection fails."""
        from gevent.event import AsyncResult

        backend = self.backend
        self._failed = AsyncResult()
        self.client.nodes_manager.initialize()  # the slot map as it is now
        try:
            with backend._lock:
                groups = backend._go_live()
                # One command per channel: the channels of one SSUBSCRIBE must share
                # a slot. They are sent without waiting for the replies.
                for group in groups:
                    conn = self._conn_for(group)
                    conn.send_command("SSUBSCRIBE", backend._channel(group), check_health=False)
            backend._connected()
            self._failed.get()  # raises what the first failed reader raised
        finally:
            backend.live = False
            for reader in self._readers:
                reader.kill(block=False)
            for conn in self.conns.values():
                conn.disconnect()
            self.conns.clear()

    def send(self, group: str, subscribe: bool) -> None:
        """Subscribe to (or unsubscribe from) ``group`` on the primary that owns it."""
        backend = self.backend
        with backend._lock:
            if not backend.live or self._failed is None or self._failed.ready():
                return  # the listener resubscribes everything when it reconnects
            try:
                conn = self._conn_for(group)
                command = "SSUBSCRIBE" if subscribe else "SUNSUBSCRIBE"
                conn.send_command(command, backend._channel(group), check_health=False)
            except (redis.RedisError, OSError) as exc:
                logger.debug("Redis subscription command failed: %s", exc)
                if not self._failed.ready():
                    self._failed.set_exception(exc)

    def _moved(self, group: str) -> None:
        """Redis ended ``group``'s subscription (its slot moved): subscribe where it is now."""
        import gevent

        backend = self.backend
        if group not in backend.wanted:
            return  # ours: the group lost its last local member

        def follow() -> None:
            try:
                self.client.nodes_manager.initialize()
            except redis.RedisError as exc:
                if not self._failed.ready():
                    self._failed.set_exception(exc)
                return
            logger.info("Group %r moved to %s:%s; subscribing there", group, *self._node_of(group))
            backend._expect([group])
            self.send(group, True)

        gevent.spawn(follow)
