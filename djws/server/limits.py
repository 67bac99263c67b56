"""Enforcing ``WEBSOCKET_LIMITS`` in a worker: the buckets, and what a crossing does.

:mod:`djws.limits` says what the limits are; this module counts against them:
a connection's :class:`Budget` of messages and bytes, the handshakes each client
address may still start (:class:`AddressBuckets`), and :func:`crossed`, which
counts a crossing in the metrics and logs it at most once a minute per client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from time import monotonic

from .. import metrics
from ..limits import Limits

__all__ = ["LOG_EVERY", "AddressBuckets", "Budget", "crossed"]

logger = logging.getLogger("djws.security")

#: Seconds between two log lines for one client address and limit.
LOG_EVERY = 60.0


class Budget:
    """What one connection may still receive now: its message and byte buckets."""

    __slots__ = ("_address", "_bytes", "_limits", "_messages", "_then")

    def __init__(self, limits: Limits, address: str) -> None:
        self._limits = limits
        self._address = address
        self._messages = float(limits.message_burst or limits.messages_per_second or 0)
        self._bytes = float(limits.byte_burst or limits.bytes_per_second or 0)
        self._then = monotonic()

    def spend(self, messages: Sequence[str | bytes], size: int | None) -> str | None:
        """Spend ``messages``, read in ``size`` bytes; return the close reason if over a limit.

        ``size`` None: the connection is compressed, and a message costs what it
        inflates to (its length), not the few bytes it took on the wire.
        """
        limits = self._limits
        now = monotonic()
        elapsed, self._then = now - self._then, now
        rate = limits.messages_per_second
        if rate is not None:
            burst = limits.message_burst or rate
            self._messages = min(burst, self._messages + elapsed * rate) - len(messages)
            if self._messages < 0:
                return self._over(
                    "messages_per_second", f"too many messages: over {rate:g} a second"
                )
        rate = limits.bytes_per_second
        if rate is not None:
            burst = limits.byte_burst or rate
            if size is None:
                size = sum(map(len, messages))
            self._bytes = min(burst, self._bytes + elapsed * rate) - size
            if self._bytes < 0:
                return self._over("bytes_per_second", f"too many bytes: over {rate:g} a second")
        return None

    def _over(self, limit: str, reason: str) -> str:
        crossed(limit, self._address, reason)
        return reason


class AddressBuckets:
    """A token bucket per client address, for the handshakes it may start."""

    #: Addresses kept before idle ones are forgotten.
    PRUNE_AT = 4096

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, address: str, rate: float, burst: float, now: float | None = None) -> float:
        """Take one token for ``address``; return 0, or the seconds until one is there."""
        now = monotonic() if now is None else now
        buckets = self._buckets
        tokens, then = buckets.get(address, (burst, now))
        tokens = min(burst, tokens + (now - then) * rate)
        if tokens < 1:
            buckets[address] = (tokens, now)
            return (1 - tokens) / rate
        buckets[address] = (tokens - 1, now)
        if len(buckets) > self.PRUNE_AT:
            self._prune(now, burst / rate)
        return 0.0

    def _prune(self, now: float, refill: float) -> None:
        """Forget the addresses whose bucket is full again: they are as new."""
        for address, (_tokens, then) in list(self._buckets.items()):
            if now - then >= refill:
                del self._buckets[address]

    def __len__(self) -> int:
        return len(self._buckets)


_logged: dict[tuple[str, str], float] = {}


def crossed(limit: str, address: str, detail: str, now: float | None = None) -> None:
    """Count that ``address`` crossed ``limit``; log it, at most once a minute per client."""
    metrics.limit_crossed(limit)
    now = monotonic() if now is None else now
    key = (address, limit)
    last = _logged.get(key)
    if last is not None and now - last < LOG_EVERY:
        return
    if len(_logged) > 10_000:
        for old, when in list(_logged.items()):
            if now - when >= LOG_EVERY:
                del _logged[old]
    _logged[key] = now
    logger.warning(
        "Client %s crossed WEBSOCKET_LIMITS[%r]: %s (logged once a minute per client)",
        address,
        limit,
        detail,
    )
