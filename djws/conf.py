"""djws's settings, each read lazily from ``django.conf.settings`` with a default.

Every setting is documented in ``docs/reference/settings.rst``; keep the two in step.
An optional app's settings are its own (``djws.contrib.chat.conf``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings as django_settings

__all__ = ["DEFAULTS", "Settings", "settings"]

KIB = 1024
MIB = 1024 * KIB

DEFAULTS: dict[str, Any] = {
    # Dotted path of the urlconf that lists WebSocket views. Required.
    "WEBSOCKET_URLCONF": None,
    # Origins allowed to open a WebSocket; None means "the request's own host, or a
    # host in ALLOWED_HOSTS". See djws.origin for the pattern grammar.
    "WEBSOCKET_ALLOWED_ORIGINS": None,
    # Largest message (after decompression) and largest single frame a client may
    # send. Over it: close 1009.
    "WEBSOCKET_MAX_MESSAGE_SIZE": 1 * MIB,
    "WEBSOCKET_MAX_FRAME_SIZE": None,
    # Bytes queued for a client that does not read before it is closed (1008) -- for
    # messages sent without waiting (broadcasts); a view's own send() waits instead.
    "WEBSOCKET_WRITE_BUFFER_LIMIT": 4 * MIB,
    # Seconds: a client must send its request line and headers in this time (else
    # 408 and the connection is closed), and bytes their total may not exceed (431).
    "WEBSOCKET_HANDSHAKE_TIMEOUT": 10.0,
    "WEBSOCKET_MAX_HEADER_SIZE": 64 * KIB,
    # Seconds between keepalive pings to a silent client, and how long it may take to
    # answer before it is considered dead (closed with 1011). None disables pings.
    "WEBSOCKET_PING_INTERVAL": 20.0,
    "WEBSOCKET_PING_TIMEOUT": 20.0,
    # Seconds without a message from the client before the server closes (1000).
    "WEBSOCKET_IDLE_TIMEOUT": None,
    # Seconds to wait for the client's answer to a close frame before cutting TCP.
    "WEBSOCKET_CLOSE_TIMEOUT": 5.0,
    # Negotiate permessage-deflate (RFC 7692) when a client offers it.
    "WEBSOCKET_COMPRESSION": True,
    # zlib window (9-15) and memory level (1-9) per compressed connection: the
    # memory a compressed connection costs is about 2**(window+2) + 2**(memlevel+9)
    # bytes each way.
    "WEBSOCKET_COMPRESSION_WINDOW_BITS": 12,
    "WEBSOCKET_COMPRESSION_MEMORY_LEVEL": 5,
    # Seconds a waiting view keeps its database connections before releasing them.
    "WEBSOCKET_DB_RELEASE_DELAY": 1.0,
    # Idle database connections each worker keeps per database alias, handed to
    # the next greenlet instead of opening a new one (0 disables the pool).
    "WEBSOCKET_DB_POOL_SIZE": 4,
    # Where broadcast messages travel (djws.broadcast): "memory://" (this process
    # only), "redis://host:6379/0", "postgresql://host/db" or "database://ALIAS".
    "WEBSOCKET_BROADCAST_URL": "memory://",
    # Prefix of every Redis key and channel, and of PostgreSQL channel names: lets
    # several projects share one Redis or database.
    "WEBSOCKET_BROADCAST_PREFIX": "djws",
    # Seconds after which the presence entries of a worker that stopped refreshing
    # them (killed, cut off) disappear. Each worker refreshes every TTL / 3.
    "WEBSOCKET_BROADCAST_PRESENCE_TTL": 30.0,
    # Where {% websocket_url %} points pages that did not come through a djws server
    # (runserver beside runwebsocket): None means "the page's host name on port 8001";
    # also ":PORT", "//host[:port][/prefix]" or "wss://host[:port][/prefix]".
    # See djws.urls.
    "WEBSOCKET_SERVER_URL": None,
}


class Settings:
    """Attribute access to ``WEBSOCKET_*`` settings, falling back to ``DEFAULTS``.

    Reads happen on every access so ``override_settings`` in tests just works. A
    subclass with other ``defaults`` serves an optional app's settings.
    """

    #: The settings this object knows, each with its default.
    defaults: ClassVar[dict[str, Any]] = DEFAULTS
    #: Who owns them, named when an unknown setting is asked for.
    app: ClassVar[str] = "djws"

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"{self.app} has no setting {name!r}")
        return getattr(django_settings, name, self.defaults[name])


settings = Settings()
