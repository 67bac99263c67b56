r"""``redis://``, ``rediss://``, ``unix://``: Redis pub/sub, across workers and machines.

Per worker process, whatever the number of sockets:

* **one** subscribing connection, held by the listener greenlet, multiplexes
  every group with local members (``SUBSCRIBE prefix:group:<name>``) and the
  shared channel of user / session messages;
* a small ``BlockingConnectionPool`` (:data:`POOL_SIZE` connections) for
  publishing, history and presence. It blocks instead of failing when every
  connection is busy: redis-py's default pool raises "Too many connections" at
  its 101st concurrent user, which a busy worker reaches.

In other processes (the shell, commands, Celery) only the pool is used.

Publishing is one Lua script (:data:`PUBLISH_SCRIPT`), so numbering, storing
and sending are atomic: it increments the group's offset in
``prefix:meta:<group>`` (which also holds the epoch, created with the first
message after Redis lost its data), appends the message to the stream
``prefix:stream:<group>`` (``XADD`` with the offset as its id, ``MAXLEN ~``
the history length, expiring after the history age) and ``PUBLISH``\es
``epoch:offset:milliseconds:wire``. So a message that ``publish()`` reported is in the
history even if no worker was subscribed at that moment -- a worker that
reconnects reads it from there.

Commands are not retried, and every one is bounded by
``WEBSOCKET_BROADCAST_TIMEOUT``: a publish that fails or times out raises
:class:`~djws.broadcast.PublishError` (pooled connections broken by a Redis
restart are replaced when checked out, before use).

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

from ..exceptions import HistoryError, PresenceError, PublishError
from ..position import Entry, Position, Slice, new_epoch
from .base import redact
from .listening import ListeningBackend

__all__ = ["PUBLISH_SCRIPT", "READ_SCRIPT", "RedisBackend"]

logger = logging.getLogger("djws.broadcast")

POOL_SIZE = 8
SUBSCRIBE_CHUNK = 500
#: A group's epoch and offset outlive its history by this much (seconds, at least a
#: day): a quiet group keeps its numbering, so its clients resume without a reset.
META_TTL = 86400

#: KEYS: meta, stream, channel.
#: ARGV: a new epoch, wire, history length, age (ms), meta TTL (ms). Returns {epoch, offset}.
PUBLISH_SCRIPT = """
local meta, stream, channel = KEYS[1], KEYS[2], KEYS[3]
local length = tonumber(ARGV[3])
if redis.call('HSETNX', meta, 'epoch', ARGV[1]) == 1 then
  redis.call('DEL', stream)  -- a new epoch: nothing of an older stream may remain
end
local epoch = redis.call('HGET', meta, 'epoch')
local offset = redis.call('HINCRBY', meta, 'head', 1)
redis.call('PEXPIRE', meta, ARGV[5])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if length > 0 then
  redis.call('XADD', stream, 'MAXLEN', '~', length, offset .. '-0', 't', ms, 'w', ARGV[2])
  redis.call('PEXPIRE', stream, ARGV[4])
end
redis.call('PUBLISH', channel, epoch .. ':' .. offset .. ':' .. ms .. ':' .. ARGV[2])
return {epoch, offset}
"""

#: KEYS: meta, stream. ARGV: after (offset), age (ms).
#: Returns {epoch or false, head, offset, wire, offset, wire...}.
READ_SCRIPT = """
local meta, stream = KEYS[1], KEYS[2]
local state = redis.call('HMGET', meta, 'epoch', 'head')
if not state[1] then
  return {false, 0}
end
local now = redis.call('TIME')
local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
local result = {state[1], tonumber(state[2])}
for _, item in ipairs(redis.call('XRANGE', stream, (tonumber(ARGV[1]) + 1) .. '-0', '+')) do
  local fields = item[2]
  if tonumber(fields[2]) >= oldest then
    table.insert(result, tonumber(string.match(item[1], '^(%d+)')))
    table.insert(result, fields[4])
  end
end
return result
"""


class RedisBackend(ListeningBackend):
    """Redis pub/sub with one subscribing connection per process."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        timeout = self.timeout  # for every command, and for a free pooled connection
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = redis.Redis(connection_pool=self._pool)
        self._publish_script = self._client.register_script(PUBLISH_SCRIPT)
        self._read_script = self._client.register_script(READ_SCRIPT)
        self._channel_prefix = f"{self.prefix}:group:"
        self._conn: Any = None

    def _channel(self, group: str) -> bytes:
        return (self._channel_prefix + group).encode()

    def _keys(self, group: str) -> list[str | bytes]:
        return [f"{self.prefix}:meta:{group}", f"{self.prefix}:stream:{group}"]

    def _presence_key(self, group: str) -> str:
        return f"{self.prefix}:presence:{group}"

    def _worker_key(self, worker: str) -> str:
        return f"{self.prefix}:worker:{worker}"

    # Publishing

    def publish(self, group: str, wire: bytes) -> Position:
        args: list[str | bytes | int] = [
            new_epoch(),
            wire,
            self.history_length,
            int(self.history_age * 1000),
            int(max(self.history_age * 10, META_TTL) * 1000),
        ]
        keys: list[str | bytes] = [*self._keys(group), self._channel(group)]
        try:
            epoch, offset = self._publish_script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise PublishError(
                f"could not publish to group {group!r}: Redis at {redact(self.url)} failed: {exc}"
            ) from exc
        return Position(epoch.decode(), int(offset))

    def read(self, group: str, after: int) -> Slice:
        args = [after, int(self.history_age * 1000)]
        try:
            result = self._read_script(keys=self._keys(group), args=args)
        except redis.RedisError as exc:
            raise HistoryError(
                f"could not read the history of group {group!r}: Redis at {redact(self.url)} "
                f"failed: {exc}"
            ) from exc
        epoch, head, rest = result[0], int(result[1]), result[2:]
        if not epoch:
            return Slice("", 0, [])
        entries = [Entry(int(rest[i]), bytes(rest[i + 1])) for i in range(0, len(rest), 2)]
        return Slice(epoch.decode(), head, entries)

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
        receive = self.hub.receive
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
                    epoch, offset, ms, wire = reply[2].split(b":", 3)
                    position = Position(epoch.decode(), int(offset))
                    receive(reply[1][start:].decode(), position, wire, int(ms) / 1000)
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
        # One HDEL and one HSET per group, whatever the number of connections: a
        # batch (see ListeningBackend._write_presence) can hold thousands.
        removed: dict[str, list[str]] = {}
        for group, connection_id in remove:
            removed.setdefault(group, []).append(connection_id)
        added: dict[str, list[str]] = {}
        for group, connection_id, entry in add:
            added.setdefault(group, []).extend((connection_id, entry))
        pipe = self._client.pipeline(transaction=False)
        for group, connection_ids in removed.items():
            pipe.hdel(self._presence_key(group), *connection_ids)
        for group, fields in added.items():
            pipe.hset(self._presence_key(group), items=fields)
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
