"""What one client may do: the limits of ``WEBSOCKET_LIMITS``, and their bookkeeping.

Fair turns (:mod:`djws.server.transport`) keep one flooding client from holding
its worker with nothing configured; these limits stop what a client may make a
worker hold or do. ``WEBSOCKET_LIMITS`` is a dict; a key left out keeps its
default, ``None`` turns a limit off; ``@websocket(limits={...})`` overrides the
per-connection ones for a view:

=================================  =========  =============  ==================================
key                                default    counted per    crossing it
=================================  =========  =============  ==================================
``messages_per_second``            1,000      connection     closed with 1008
``message_burst``                  2,000      connection     (the bucket's size)
``bytes_per_second``               8 MiB      connection     closed with 1008
``byte_burst``                     16 MiB     connection     (the bucket's size)
``groups_per_connection``          1,000      connection     the join fails, closed with 1008
``connections_per_user``           100        worker         closed with 1008 after the 101
``connections_per_address``        off        worker         closed with 1008 after the 101
``handshakes_per_second``          off        worker and     ``429`` with ``Retry-After``,
                                              client address before Django runs
``handshake_burst``                off        address        (the bucket's size)
=================================  =========  =============  ==================================

The per-address limits are off by default: behind a NAT (a company network, a
mobile carrier) one address is many people.

Rates are token buckets: a client may send ``burst`` at once, and ``per_second``
on average. The reason of every 1008 names the limit; the first crossing of a
limit by a client address is logged (logger ``djws.security``) at most once a
minute, naming the setting; every crossing is counted in metrics.

The client address is the peer's, or -- when the peer is one of
``WEBSOCKET_TRUSTED_PROXIES`` (by default the loopback addresses, where a local
nginx connects from) -- the last address in ``X-Forwarded-For`` that is not a
trusted proxy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from math import ceil
from typing import Any

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "Open",
    "client_address",
    "retry_after",
]

MIB = 1024 * 1024

DEFAULT_LIMITS: dict[str, float | None] = {
    "messages_per_second": 1000,
    "message_burst": 2000,
    "bytes_per_second": 8 * MIB,
    "byte_burst": 16 * MIB,
    "groups_per_connection": 1000,
    "connections_per_user": 100,
    # Off by default: behind a NAT (a company, a mobile carrier) or a proxy that
    # does not say whom it forwards for, one address is many people.
    "connections_per_address": None,
    "handshakes_per_second": None,
    "handshake_burst": None,
}


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force: ``WEBSOCKET_LIMITS`` over the defaults, maybe a view's over it."""

    messages_per_second: float | None
    message_burst: float | None
    bytes_per_second: float | None
    byte_burst: float | None
    groups_per_connection: int | None
    connections_per_user: int | None
    connections_per_address: int | None
    handshakes_per_second: float | None
    handshake_burst: float | None

    @classmethod
    def read(cls, setting: Mapping[str, Any] | None) -> Limits:
        """The limits of ``setting`` (``WEBSOCKET_LIMITS``) over the defaults."""
        return cls(**DEFAULT_LIMITS).updated(setting or {})  # type: ignore[arg-type]

    def updated(self, changes: Mapping[str, Any]) -> Limits:
        """These limits with ``changes`` applied; raise ValueError for an unknown key."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(
                f"unknown limit {sorted(unknown)[0]!r}; the limits are "
                + ", ".join(f.name for f in fields(self))
            )
        for name, value in changes.items():
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ValueError(f"limit {name!r} must be a positive number or None, not {value!r}")
        return replace(self, **changes)

    @property
    def rated(self) -> bool:
        """Whether a connection counts the messages and bytes it receives."""
        return self.messages_per_second is not None or self.bytes_per_second is not None


class Open:
    """The connections open in this worker, by user and by client address."""

    def __init__(self) -> None:
        self.by_user: Counter[Any] = Counter()
        self.by_address: Counter[str] = Counter()

    def add(self, user: Any, address: str, limits: Limits) -> str | None:
        """Count a new connection; return which limit it crosses (it is not counted then)."""
        per_user, per_address = limits.connections_per_user, limits.connections_per_address
        if user is not None and per_user is not None and self.by_user[user] >= per_user:
            return "connections_per_user"
        if per_address is not None and self.by_address[address] >= per_address:
            return "connections_per_address"
        if user is not None:
            self.by_user[user] += 1
        self.by_address[address] += 1
        return None

    def remove(self, user: Any, address: str) -> None:
        """Forget a connection :meth:`add` counted."""
        for counter, key in ((self.by_user, user), (self.by_address, address)):
            if key is None:
                continue
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, ceil(seconds)))


def client_address(environ: Mapping[str, Any], trusted_proxies: Iterable[str]) -> str:
    """The client's address: the peer's, or the one a trusted proxy says it forwards."""
    peer = str(environ.get("REMOTE_ADDR") or "-")
    trusted = set(trusted_proxies)
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    if peer not in trusted or not forwarded:
        return peer
    for hop in reversed([h.strip() for h in str(forwarded).split(",") if h.strip()]):
        if hop not in trusted:
            return hop
    return peer
