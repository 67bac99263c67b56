r"""``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``, ``redis+cluster://``.

Redis pub/sub, across workers and machines: one server, a primary that
Sentinel watches, or a Cluster (:mod:`.redis_shape` reads the URL).

Per worker process, whatever the number of sockets:

* **one** subscribing connection, held by the listener greenlet, multiplexes
  every group with local members (``SUBSCRIBE prefix:group:{<name>}``) and the
  shared channel of user / session messages -- in a Cluster, one per primary
  that owns a subscribed group, with sharded pub/sub (:mod:`.redis_cluster`);
* a small blocking pool (:data:`~.redis_shape.POOL_SIZE` connections) for
  publishing, history and presence. It blocks instead of failing when every
  connection is busy: redis-py's default pool raises "Too many connections" at
  its 101st concurrent user, which a busy worker reaches.

In other processes (the shell, commands, Celery) only the pool is used.

Publishing is one Lua script (:mod:`.redis_scripts`), so numbering, storing
and sending are atomic. So a message that ``publish()`` reported is in the
history even if no worker was subscribed at that moment -- a worker that
reconnects reads it from there. With ``WEBSOCKET_BROADCAST_REPLICAS`` above 0,
``publish()`` also waits (``WAIT``) for that many replicas to hold it.

Commands are not retried, and every one is bounded by
``WEBSOCKET_BROADCAST_TIMEOUT``: a publish that fails or times out raises
:class:`~djws.broadcast.PublishError` (pooled connections broken by a Redis
restart are replaced when checked out, before use; after a Sentinel failover,
the next connection goes to the new primary).

Presence: a hash per group (``prefix:presence:{<group>}``: connection id ->
entry) and a key per worker (``prefix:worker:<id>``) that expires after
``WEBSOCKET_BROADCAST_PRESENCE_TTL`` unless refreshed. Entries of workers whose
key has expired are left out of :meth:`presence` and deleted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..exceptions import HistoryError, PresenceError, PublishError
from ..position import Entry, Position, Slice, new_epoch
from .base import redact
from .listening import ListeningBackend
from .redis_cluster import ClusterListener
from .redis_scripts import PUBLISH_SCRIPT, READ_SCRIPT
from .redis_shape import Shape, ShapeError

__all__ = ["PUBLISH_SCRIPT", "READ_SCRIPT", "RedisBackend", "describe"]

logger = logging.getLogger("djws.broadcast")

SUBSCRIBE_CHUNK = 500
#: A group's epoch and offset outlive its history by this much (seconds, at least a
#: day): a quiet group keeps its numbering, so its clients resume without a reset.
META_TTL = 86400


def describe(exc: Exception) -> str:
    """``exc``, with what to change when the fix is in the configuration."""
    text = (
        f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__) else str(exc)
    )
    lowered = text.lower()
    if "certificate verify failed" in lowered:
        return (
            f"{text} (the server's TLS certificate is not trusted: add "
            "'?ssl_ca_certs=/path/to/ca.pem' to WEBSOCKET_BROADCAST_URL)"
        )
    if "noperm" in lowered or "no permissions" in lowered or "can't run this command" in lowered:
        return (
            f"{text} (the Redis ACL user lacks a right djws needs: see the ACL line in "
            "djws's 'Redis in production' how-to)"
        )
    return text


class RedisBackend(ListeningBackend):
    """Redis pub/sub with one subscribing connection per process (per primary in a Cluster)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.shape = Shape(url, self.timeout)
        self._channel_prefix = f"{self.prefix}:group:"
        self._conn: Any = None
        self._scripts: tuple[Any, Any, Any] | None = None
        self._cluster_listener: ClusterListener | None = None

    def _channel(self, group: str) -> bytes:
        return f"{self._channel_prefix}{{{group}}}".encode()

    def _group_of(self, channel: bytes) -> str:
        return channel[len(self._channel_prefix) + 1 : -1].decode()

    def _keys(self, group: str) -> list[str | bytes]:
        return [f"{self.prefix}:meta:{{{group}}}", f"{self.prefix}:stream:{{{group}}}"]

    def _presence_key(self, group: str) -> str:
        return f"{self.prefix}:presence:{{{group}}}"

    def _worker_key(self, worker: str) -> str:
        return f"{self.prefix}:worker:{worker}"

    def _client(self) -> Any:
        """The command client, and the scripts registered on it."""
        client = self.shape.client()
        if self._scripts is None or self._scripts[0] is not client:
            self._scripts = (
                client,
                client.register_script(PUBLISH_SCRIPT),
                client.register_script(READ_SCRIPT),
            )
        return client

    def _fail(self, cls: type[Exception], what: str, exc: Exception) -> Exception:
        return cls(f"{what}: Redis at {redact(self.url)} failed: {describe(exc)}")

    # Publishing

    def publish(self, group: str, wire: bytes) -> Position:
        args: list[str | bytes | int] = [
            new_epoch(),
            wire,
            self.history_length,
            int(self.history_age * 1000),
            int(max(self.history_age * 10, META_TTL) * 1000),
            "PUBLISH",  # or SPUBLISH: known once the client connected
        ]
        keys: list[str | bytes] = [*self._keys(group), self._channel(group)]
        what = f"could not publish to group {group!r}"
        try:
            client = self._client()
            args[5] = "SPUBLISH" if self.shape.cluster else "PUBLISH"
            assert self._scripts is not None
            if self.replicas <= 0:
                epoch, offset = self._scripts[1](keys=keys, args=args)
                return Position(epoch.decode(), int(offset))
            if self.shape.cluster:  # WAIT counts the writes of its own connection
                client = client.get_node_from_key(keys[0]).redis_connection
            pipe = client.pipeline(transaction=False)
            self._scripts[1](keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", self.replicas, max(int(self.timeout * 800), 1))
            (epoch, offset), acknowledged = pipe.execute()
        except redis.RedisError as exc:
            raise self._fail(PublishError, what, exc) from exc
        position = Position(epoch.decode(), int(offset))
        if int(acknowledged) < self.replicas:
            raise PublishError(
                f"{what}: message {position} is on the Redis primary but only "
                f"{acknowledged} of WEBSOCKET_BROADCAST_REPLICAS={self.replicas} replicas "
                f"acknowledged it within {self.timeout * 0.8:.1f} s, so a failover may lose "
                "it (it may also be delivered: a retry can deliver it twice)"
            )
        return position

    def read(self, group: str, after: int) -> Slice:
        args = [after, int(self.history_age * 1000)]
        try:
            self._client()
            assert self._scripts is not None
            result = self._scripts[2](keys=self._keys(group), args=args)
        except redis.RedisError as exc:
            raise self._fail(
                HistoryError, f"could not read the history of group {group!r}", exc
            ) from exc
        epoch, head, previous, rest = result[0], int(result[1]), result[2], result[3:]
        if not epoch:
            return Slice("", 0, [])
        entries = [Entry(int(rest[i]), bytes(rest[i + 1])) for i in range(0, len(rest), 2)]
        prev = Position.parse(previous.decode()) if previous else None
        return Slice(epoch.decode(), head, entries, prev)

    # Listening

    def listener_options(self) -> dict[str, Any]:
        """Connection options of a subscribing connection."""
        return {
            # RESP2 pub/sub replies are plain [kind, channel, data] lists; redis-py's
            # maintenance notifications need RESP3, and are for its own pools anyway.
            "maint_notifications_config": None,
            "protocol": 2,
            "socket_timeout": self.keepalive * 3,
            "socket_keepalive": True,
            "retry": Retry(NoBackoff(), 0),
        }

    def _listen(self) -> None:
        client = self._client()  # a plain redis:// URL may name a Cluster node
        if self.shape.cluster:
            self._cluster_listener = ClusterListener(self, client)
            self._cluster_listener.run()
            return
        conn = self.shape.connect(**self.listener_options())
        try:
            with self._lock:
                self._conn = conn
                groups = self._go_live()
                for start in range(0, len(groups), SUBSCRIBE_CHUNK):
                    channels = [self._channel(g) for g in groups[start : start + SUBSCRIBE_CHUNK]]
                    conn.send_command("SUBSCRIBE", *channels, check_health=False)
            self._connected()
            self.read_replies(conn)
        finally:
            self.live = False
            self._conn = None
            conn.disconnect()

    def read_replies(self, conn: Any, moved: Any = None) -> None:
        """Dispatch messages until the connection fails (then raise).

        ``moved(group)``: called when Redis ends a subscription itself (a Cluster
        slot moved to another node).
        """
        awaiting_pong = False
        receive = self.hub.receive
        while True:
            if not conn.can_read(timeout=self.keepalive):
                if awaiting_pong:
                    raise redis.TimeoutError(f"no answer to PING in {self.keepalive} s")
                with self._lock:
                    conn.send_command("PING", check_health=False)
                awaiting_pong = True
                continue
            reply = conn.read_response()
            awaiting_pong = False
            if not isinstance(reply, list):
                continue  # +PONG while subscribed to nothing
            kind = reply[0]
            if kind in (b"message", b"smessage"):
                try:
                    epoch, offset, ms, wire = reply[2].split(b":", 3)
                    position = Position(epoch.decode(), int(offset))
                    receive(self._group_of(reply[1]), position, wire, int(ms) / 1000)
                except Exception:
                    logger.exception("Could not deliver a message of %r", reply[1])
            elif kind in (b"subscribe", b"ssubscribe"):
                self._confirm(self._group_of(reply[1]))
            elif kind == b"sunsubscribe" and moved is not None:
                moved(self._group_of(reply[1]))

    def _send(self, *args: Any) -> None:
        with self._lock:
            conn = self._conn
            if conn is None or not self.live:
                return  # the listener resubscribes everything when it reconnects
            try:
                conn.send_command(*args, check_health=False)
            except (redis.RedisError, OSError) as exc:
                logger.debug("Redis subscription command failed: %s", exc)

    def _send_subscribe(self, group: str, subscribe: bool) -> None:
        if self._cluster_listener is not None and self.shape.cluster:
            self._cluster_listener.send(group, subscribe)
            return
        self._send("SUBSCRIBE" if subscribe else "UNSUBSCRIBE", self._channel(group))

    # Presence

    def _heartbeat(self) -> bool:
        self._follow_primary()
        previous = self._client().set(
            self._worker_key(self.hub.worker_id), "1", px=int(self.presence_ttl * 1000), get=True
        )
        return previous is not None

    def _follow_primary(self) -> None:
        """With Sentinel: drop a subscription held on a server that is no longer primary."""
        conn = self._conn
        if conn is None or self.shape.sentinel_service == "":
            return
        try:
            primary = self.shape.primary_address()
        except redis.RedisError as exc:
            logger.debug("Sentinel unreachable: %s", exc)
            return
        if primary is not None and (conn.host, conn.port) != tuple(primary):
            logger.warning("Redis primary moved to %s:%s; subscribing there", *primary)
            conn.disconnect()

    def _presence_write(
        self, add: list[tuple[str, str, str]], remove: list[tuple[str, str]]
    ) -> None:
        if not add and not remove:
            return
        # One HDEL and one HSET per group, whatever the number of connections: a
        # batch (see ListeningBackend._write_presence) can hold thousands.
        removed: dict[str, list[str]] = {}
        for group, connection_id in remove:
            removed.setdefault(group, []).append(connection_id)
        added: dict[str, list[str]] = {}
        for group, connection_id, entry in add:
            added.setdefault(group, []).extend((connection_id, entry))
        pipe = self._client().pipeline(transaction=False)
        for group, connection_ids in removed.items():
            pipe.hdel(self._presence_key(group), *connection_ids)
        for group, fields in added.items():
            pipe.hset(self._presence_key(group), items=fields)
        pipe.execute()

    def presence(self, group: str) -> list[dict[str, Any]]:
        key = self._presence_key(group)
        try:
            client = self._client()
            raw = client.hgetall(key)
            entries = [json.loads(value) for value in raw.values()]
            workers = sorted({entry["worker"] for entry in entries})
            pipe = client.pipeline(transaction=False)  # worker keys: any slot of a Cluster
            for worker in workers:
                pipe.get(self._worker_key(worker))
            alive = pipe.execute() if workers else []
            dead = {worker for worker, flag in zip(workers, alive, strict=True) if flag is None}
            if dead:
                gone = [e["connection"] for e in entries if e["worker"] in dead]
                client.hdel(key, *gone)
        except redis.RedisError as exc:
            raise self._fail(
                PresenceError, f"could not read presence of group {group!r}", exc
            ) from exc
        live = [e for e in entries if e["worker"] not in dead]
        return sorted(live, key=lambda e: (e["worker"], e["connection"]))

    def check_shape(self) -> str | None:
        """Connect, and say what is wrong if the URL's shape is not the server's.

        Raise ``redis.RedisError`` if Redis cannot be reached at all.
        """
        try:
            client = self._client()
            if self.shape.sentinel_service:
                self.shape.primary_address()
            client.ping()
        except ShapeError as exc:
            return str(exc)
        except redis.sentinel.MasterNotFoundError as exc:
            return (
                f"WEBSOCKET_BROADCAST_URL names Sentinel service "
                f"{self.shape.sentinel_service!r}, but no sentinel there knows its primary: {exc}"
            )
        return None

    def close(self) -> None:
        super().close()
        self.shape.close()
