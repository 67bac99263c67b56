"""``redis://``, ``rediss://``, ``unix://``: Redis pub/sub, across workers and machines.

Per worker process, whatever the number of sockets:

* **one** subscribing connection, held by the listener greenlet, multiplexes
  every group with local members (``SUBSCRIBE prefix:group:<name>``) and the
  shared channel of user / session messages;
* a small ``BlockingConnectionPool`` (:data:`POOL_SIZE` connections) for
  ``PUBLISH`` and presence. It blocks instead of failing when every connection
  is busy: redis-py's default pool raises "Too many connections" at its 101st
  concurrent user, which a busy worker reaches.

In other processes (the shell, commands, Celery) only the pool is used.

Commands are not retried: a ``PUBLISH`` that fails raises
:class:`~djws.broadcast.PublishError` and was not sent (pooled connections
broken by a Redis restart are replaced when checked out, before use).

Presence: a hash per group (``prefix:presence:<group>``: connection id ->
entry) and a key per worker (``prefix:worker:<id>``) that expires after
``WEBSOCKET_BROADCAST_PRESENCE_TTL`` unless refreshed. Entries of workers whose
key has expired are left out of :meth:`presence` and deleted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..exceptions import PresenceError, PublishError
from .base import ListeningBackend, redact

__all__ = ["RedisBackend"]

logger = logging.getLogger("djws.broadcast")

POOL_SIZE = 8
#: Seconds a publisher waits for a free pooled connection.
POOL_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
SUBSCRIBE_CHUNK = 500


class RedisBackend(ListeningBackend):
    """Redis pub/sub with one subscribing connection per process."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = redis.Redis(connection_pool=self._pool)
        self._channel_prefix = f"{self.prefix}:group:"
        self._conn: Any = None

    def _channel(self, group: str) -> bytes:
        return (self._channel_prefix + group).encode()

    def _presence_key(self, group: str) -> str:
        return f"{self.prefix}:presence:{group}"

    def _worker_key(self, worker: str) -> str:
        return f"{self.prefix}:worker:{worker}"

    # Publishing

    def publish(self, group: str, wire: bytes) -> None:
        try:
            self._client.publish(self._channel(group), wire)
        except redis.RedisError as exc:
            raise PublishError(
                f"could not publish to group {group!r}: Redis at {redact(self.url)} failed: {exc}"
            ) from exc

    # Listening

    def _listen(self) -> None:
        kwargs = {
            **{
                key: value
                for key, value in self._pool.connection_kwargs.items()
                if not key.startswith("maint_notifications")
            },
            # RESP2 pub/sub replies are plain [kind, channel, data] lists; redis-py's
            # maintenance notifications need RESP3, and are for its own pools anyway.
            "maint_notifications_config": None,
            "protocol": 2,
            "socket_timeout": self.keepalive * 3,
            "socket_keepalive": True,
            "retry": Retry(NoBackoff(), 0),
        }
        conn = self._pool.connection_class(**kwargs)
        try:
            conn.connect()
            with self._lock:
                self._conn = conn
                groups = self._go_live()
                for start in range(0, len(groups), SUBSCRIBE_CHUNK):
                    channels = [self._channel(g) for g in groups[start : start + SUBSCRIBE_CHUNK]]
                    conn.send_command("SUBSCRIBE", *channels, check_health=False)
            self._connected()
            self._read(conn)
        finally:
            self.live = False
            self._conn = None
            conn.disconnect()

    def _read(self, conn: Any) -> None:
        """Dispatch messages until the connection fails (then raise)."""
        start = len(self._channel_prefix.encode())
        awaiting_pong = False
        dispatch = self.hub.dispatch
        while True:
            if not conn.can_read(timeout=self.keepalive):
                if awaiting_pong:
                    raise redis.TimeoutError(f"no answer to PING in {self.keepalive} s")
                self._send("PING")
                awaiting_pong = True
                continue
            reply = conn.read_response()
            awaiting_pong = False
            if not isinstance(reply, list):
                continue  # +PONG while subscribed to nothing
            kind = reply[0]
            if kind == b"message":
                try:
                    dispatch(reply[1][start:].decode(), reply[2])
                except Exception:
                    logger.exception("Could not deliver a message of %r", reply[1])
            elif kind == b"subscribe":
                self._confirm(reply[1][start:].decode())

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
        self._send("SUBSCRIBE" if subscribe else "UNSUBSCRIBE", self._channel(group))

    # Presence

    def _heartbeat(self) -> bool:
        previous = self._client.set(
            self._worker_key(self.hub.worker_id), "1", px=int(self.presence_ttl * 1000), get=True
        )
        return previous is not None

    def _presence_write(
        self, add: list[tuple[str, str, str]], remove: list[tuple[str, str]]
    ) -> None:
        if not add and not remove:
            return
        pipe = self._client.pipeline(transaction=False)
        for group, connection_id in remove:
            pipe.hdel(self._presence_key(group), connection_id)
        for group, connection_id, entry in add:
            pipe.hset(self._presence_key(group), connection_id, entry)
        pipe.execute()

    def presence(self, group: str) -> list[dict[str, Any]]:
        key = self._presence_key(group)
        try:
            raw = self._client.hgetall(key)
            entries = [json.loads(value) for value in raw.values()]
            workers = sorted({entry["worker"] for entry in entries})
            alive = self._client.mget([self._worker_key(w) for w in workers]) if workers else []
            dead = {worker for worker, flag in zip(workers, alive, strict=True) if flag is None}
            if dead:
                gone = [e["connection"] for e in entries if e["worker"] in dead]
                self._client.hdel(key, *gone)
        except redis.RedisError as exc:
            raise PresenceError(
                f"could not read presence of group {group!r}: Redis at {redact(self.url)} "
                f"failed: {exc}"
            ) from exc
        live = [e for e in entries if e["worker"] not in dead]
        return sorted(live, key=lambda e: (e["worker"], e["connection"]))

    def close(self) -> None:
        super().close()
        self._pool.disconnect()
