"""The handler of the scenarios on ``/whoami`` (``idle`` and ``handshake``).

The server's first message on ``/whoami`` is the logged-in user's name (with the
``sessionid`` cookie; ``anonymous`` without): the handler counts it as
``auth_ok`` when it is the one expected, and the connection is then *ready*.
"""

from __future__ import annotations

from collections.abc import Callable

from ..engine import Conn, Handler


class WhoamiHandler(Handler):
    """The first message after the handshake names the logged-in user."""

    def __init__(self, expected: str | None, greeting: bool = True) -> None:
        self.expected = expected.encode() if expected else None
        self.greeting = greeting  # False: the endpoint sends nothing first (plain echo)
        self.auth_ok = 0
        self.auth_bad: dict[str, int] = {}
        self.answered = 0
        self.on_ready: Callable[[Conn, float], None] | None = None
        self.on_gone: Callable[[Conn, float, str | None], None] | None = None

    def on_open(self, conn: Conn, now: float) -> None:
        if not self.greeting:
            conn.messages = 1
            conn.sent_at = now
            if self.on_ready:
                self.on_ready(conn, now)

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        conn.messages += 1
        if conn.messages == 1:
            if self.expected is None or payload == self.expected:
                self.auth_ok += 1
            else:
                key = payload[:40].decode("utf-8", "replace")
                self.auth_bad[key] = self.auth_bad.get(key, 0) + 1
            conn.sent_at = now  # handshake completion time
            if self.on_ready:
                self.on_ready(conn, now)
        elif payload == conn.expect:
            self.answered += 1
            conn.expect = None

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        if self.on_gone:
            self.on_gone(conn, now, error)
