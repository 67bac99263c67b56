"""djws's settings: ``WEBSOCKET_*`` in the project's settings, each with a default.

Two ways to read them:

* :data:`settings` reads a setting on every access, so ``override_settings``
  in tests just works: for code that runs now and then (checks, URLs, publishing);
* :class:`ServerSettings` is what a server reads **once** per worker process
  (:meth:`ServerSettings.read`) and hands to every connection it accepts: the
  limits, timeouts and compression of the protocol, frozen.

Every setting is documented in ``docs/reference/settings.rst``; keep the two in step.
An optional app's settings are its own (``djws.contrib.chat.conf``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .limits import Limits

__all__ = ["DEFAULTS", "WORKERS_ENV", "ServerSettings", "Settings", "require_app", "settings"]

#: Set by ``runwebsocket`` to its ``--workers`` before it runs the checks: the
#: checks that only matter to a server process read it.
WORKERS_ENV = "DJWS_RUNWEBSOCKET_WORKERS"

KIB = 1024
MIB = 1024 * KIB

DEFAULTS: dict[str, Any] = {
    # Dotted path of the urlconf that lists WebSocket views. Required.
    "WEBSOCKET_URLCONF": None,
    # Origins allowed to open a WebSocket; None means "the request's own host, or a
    # host in ALLOWED_HOSTS". See djws.origin for the pattern grammar.
    "WEBSOCKET_ALLOWED_ORIGINS": None,
    # Largest message (after decompression) and largest single frame a client may
    # send. Over it: close 1009. A fragmented message also weighs its frames'
    # headers; a compressed one must fit as it arrives too (djws.protocol.frames).
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
    # Where broadcast messages travel (djws.broadcast): "local://" (runwebsocket on
    # this machine: nothing to start), "memory://" (this process only),
    # "redis://host:6379/0", "postgresql://host/db" or "database://ALIAS".
    "WEBSOCKET_BROADCAST_URL": "local://",
    # Prefix of every Redis key and channel, and of PostgreSQL channel names: lets
    # several projects share one Redis or database.
    "WEBSOCKET_BROADCAST_PREFIX": "djws",
    # Seconds after which the presence entries of a worker that stopped refreshing
    # them (killed, cut off) disappear. Each worker refreshes every TTL / 3.
    "WEBSOCKET_BROADCAST_PRESENCE_TTL": 30.0,
    # Messages kept per group for resuming (djws.broadcast.position), and for how
    # many seconds at most; 0 keeps none (nothing can be resumed).
    "WEBSOCKET_BROADCAST_HISTORY": 1000,
    "WEBSOCKET_BROADCAST_HISTORY_AGE": 300.0,
    # Redis replicas that must hold a message before publish() returns (WAIT);
    # fewer within WEBSOCKET_BROADCAST_TIMEOUT: PublishError. 0: do not wait.
    "WEBSOCKET_BROADCAST_REPLICAS": 0,
    # Seconds a call to the broadcast backend (a publish, a history read) may take
    # before it fails with PublishError / HistoryError.
    "WEBSOCKET_BROADCAST_TIMEOUT": 5.0,
    # Bytes of committed messages a process keeps while the backend does not take
    # them (djws.broadcast.outbox), retried until it does; past it they are dropped,
    # each logged as an error.
    "WEBSOCKET_BROADCAST_OUTBOX_LIMIT": 16 * MIB,
    # Where {% websocket_url %} points pages that did not come through a djws server
    # (runserver beside runwebsocket): None means "the page's host name on port 8001";
    # also ":PORT", "//host[:port][/prefix]" or "wss://host[:port][/prefix]".
    # See djws.reverse.
    "WEBSOCKET_SERVER_URL": None,
    # What one client may do: a dict over djws.limits.DEFAULT_LIMITS (None turns a
    # limit off); @websocket(limits={...}) overrides it for a view. See djws.limits.
    "WEBSOCKET_LIMITS": {},
    # Peers whose X-Forwarded-For names the client (a proxy on this machine): the
    # client address the per-address limits and the logs use.
    "WEBSOCKET_TRUSTED_PROXIES": ["127.0.0.1", "::1"],
    # What djws.auth.WebSocketAuthenticationMiddleware runs on each WebSocket
    # handshake, in order: djws's tickets, and Django REST framework classes.
    "WEBSOCKET_AUTHENTICATION_CLASSES": ("djws.auth.TicketAuthentication",),
    # Seconds a ticket (djws.auth.issue_ticket) lives: it must open a WebSocket in
    # that time, and the WebSocket closes (3000) when it ends unless refreshed.
    "WEBSOCKET_TICKET_MAX_AGE": 120,
    # The cache (an alias of CACHES) that remembers used tickets until they expire.
    "WEBSOCKET_TICKET_CACHE": "default",
    # Seconds a signed stream name (djws.live.streams) stays valid; None: always.
    "WEBSOCKET_STREAM_MAX_AGE": None,
    # Who may listen to a signed stream, beyond having its name: name pattern
    # (fnmatch) -> check(request, name) or its dotted path (djws.live.streams).
    "WEBSOCKET_STREAM_CHECKS": {},
}


class Settings:
    """Attribute access to ``WEBSOCKET_*`` settings, falling back to ``DEFAULTS``.

    A value read is kept until Django's ``setting_changed`` signal names it
    (``override_settings`` and pytest-django's ``settings`` send it), as Django
    REST framework's settings do: a setting the project leaves out would
    otherwise cost an AttributeError raised and caught on every read, several on
    every handshake. A subclass with other ``defaults`` serves an optional
    app's settings.
    """

    #: The settings this object knows, each with its default.
    defaults: ClassVar[dict[str, Any]] = DEFAULTS
    #: Who owns them, named when an unknown setting is asked for.
    app: ClassVar[str] = "djws"

    def __init__(self) -> None:
        setting_changed.connect(self._forget)

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"{self.app} has no setting {name!r}")
        value = getattr(django_settings, name, self.defaults[name])
        self.__dict__[name] = value  # found there from now on: no __getattr__ call
        return value

    def _forget(self, *, setting: str, **kwargs: Any) -> None:
        self.__dict__.pop(setting, None)


settings = Settings()


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The settings a server reads once and every connection it accepts uses."""

    max_message_size: int | None
    max_frame_size: int | None
    write_buffer_limit: int
    handshake_timeout: float
    max_header_size: int
    ping_interval: float | None
    ping_timeout: float | None
    idle_timeout: float | None
    close_timeout: float
    compression: bool
    compression_window_bits: int
    compression_memory_level: int
    db_release_delay: float | None
    allowed_origins: tuple[str, ...] | None
    limits: Limits
    trusted_proxies: tuple[str, ...]

    @classmethod
    def read(cls) -> ServerSettings:
        """Read the current ``WEBSOCKET_*`` settings."""
        origins = settings.WEBSOCKET_ALLOWED_ORIGINS
        return cls(
            max_message_size=settings.WEBSOCKET_MAX_MESSAGE_SIZE,
            max_frame_size=settings.WEBSOCKET_MAX_FRAME_SIZE,
            write_buffer_limit=settings.WEBSOCKET_WRITE_BUFFER_LIMIT,
            handshake_timeout=settings.WEBSOCKET_HANDSHAKE_TIMEOUT,
            max_header_size=settings.WEBSOCKET_MAX_HEADER_SIZE,
            ping_interval=settings.WEBSOCKET_PING_INTERVAL,
            ping_timeout=settings.WEBSOCKET_PING_TIMEOUT,
            idle_timeout=settings.WEBSOCKET_IDLE_TIMEOUT,
            close_timeout=settings.WEBSOCKET_CLOSE_TIMEOUT,
            compression=bool(settings.WEBSOCKET_COMPRESSION),
            compression_window_bits=settings.WEBSOCKET_COMPRESSION_WINDOW_BITS,
            compression_memory_level=settings.WEBSOCKET_COMPRESSION_MEMORY_LEVEL,
            db_release_delay=settings.WEBSOCKET_DB_RELEASE_DELAY,
            allowed_origins=None if origins is None else tuple(origins),
            limits=Limits.read(settings.WEBSOCKET_LIMITS),
            trusted_proxies=tuple(settings.WEBSOCKET_TRUSTED_PROXIES),
        )


def require_app(user: str) -> None:
    """Raise ImproperlyConfigured, naming ``user``, unless "djws" is in INSTALLED_APPS."""
    from django.apps import apps

    if not apps.is_installed("djws"):
        raise ImproperlyConfigured(
            f'{user} needs "djws" in INSTALLED_APPS: add it to your settings '
            '(INSTALLED_APPS = [..., "djws"]). Without it, Django knows neither the '
            "runwebsocket command nor the {% load websockets %} tag library, and djws's "
            "system checks do not run."
        )
