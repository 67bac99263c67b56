"""The mass resume's clients (:class:`Client`) and what they check
(:class:`ResumeHandler`); the scenario itself is :mod:`load.scenarios.resume`.
"""

from __future__ import annotations

import json

from ..engine import Conn, Handler


def resume_text(k: int, group: str, size: int) -> str:
    """Message ``k`` (1..M) of ``group``, exactly as ``manage.py benchfill`` publishes and
    stores it (``message_text`` there)."""
    return f"{k} {group} ".ljust(size, "x")


class Client:
    """One client of the resume scenario: its group, the position it stands at (from
    its ``joined`` envelope), and its progress in the current phase."""

    __slots__ = (
        "ahead",
        "conn",
        "done_at",
        "epoch",
        "failed",
        "group",
        "index",
        "k",
        "offset",
    )

    def __init__(self, index: int, group: str) -> None:
        self.index = index
        self.group = group
        self.epoch = ""
        self.offset = 0
        self.conn: Conn | None = None
        self.k = 0  # messages of the replay received in order so far
        self.ahead: set[int] | None = None  # replayed messages received after a gap
        self.done_at: float | None = None
        self.failed = False

    def reset(self) -> None:
        """Forget the last phase's progress (not the position)."""
        self.conn = None
        self.k = 0
        self.ahead = None
        self.done_at = None
        self.failed = False


class ResumeHandler(Handler):
    """The three phases of the resume scenario, in ``mode``:

    * ``join``: the first ``joined`` envelope gives the client its position;
    * ``resume``: the M messages the client missed, replayed in envelopes,
      exactly once and in order, then ``joined`` with ``"recovered": true``;
    * ``reload``: one JSON message with the group's last M rows from the database.

    A client is *finished* when its phase's last message came, or its connection
    failed before that (then ``failed``).
    """

    def __init__(self, messages: int, size: int) -> None:
        self.mode = "join"
        self.m = messages
        self.size = size
        #: group -> the envelope bytes djws sends for its replayed messages 1..M, to
        #: recognise each with one comparison; anything else is parsed and checked.
        self.envelopes: dict[str, list[bytes]] = {}
        #: group -> [(position, text)] of its M messages, as published.
        self.rows: dict[str, list[tuple[str, str]]] = {}
        #: group -> the position the fill left it at.
        self.last: dict[str, str] = {}
        self.finished = 0
        self.counts: dict[str, int] = {}
        self.anomalies: list[tuple[str, int, str, str, str]] = []

    def expect(self, first: dict[str, str], last: dict[str, str]) -> None:
        """What each group's clients must get, from benchfill's positions."""
        self.last = dict(last)
        for group, position in first.items():
            epoch, _, offset = position.rpartition(":")
            start = int(offset)
            rows = [
                (f"{epoch}:{start + i}", resume_text(i + 1, group, self.size))
                for i in range(self.m)
            ]
            self.rows[group] = rows
            head = '{"djws":"message","group":%s,"position":"%s","kind":"text","data":%s}'
            self.envelopes[group] = [
                (head % (json.dumps(group), where, json.dumps(text))).encode()
                for where, text in rows
            ]

    def count(self, what: str, client: Client, detail: str = "") -> None:
        """Count one anomaly; keep the first 20 (kind, client, group, position, detail)."""
        self.counts[what] = self.counts.get(what, 0) + 1
        if len(self.anomalies) < 20:
            where = f"{client.epoch}:{client.offset + client.k}"
            self.anomalies.append((what, client.index, client.group, where, detail[:200]))

    def finish(self, client: Client, now: float) -> None:
        """The client got everything its phase sends it."""
        client.done_at = now
        self.finished += 1

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        client: Client | None = conn.extra
        if client is None or client.conn is not conn:
            return
        if self.mode == "resume":
            k = client.k
            if k < self.m and payload == self.envelopes[client.group][k]:
                client.k = k + 1  # the next replayed message, exactly as expected
                return
            self.resume_message(client, payload, now)
        elif self.mode == "reload":
            self.reload_message(client, payload, now)
        elif self.mode == "join":
            self.join_message(client, payload, now)

    def join_message(self, client: Client, payload: bytes, now: float) -> None:
        try:
            message = json.loads(payload)
            kind, position = message["djws"], message["position"]
        except (ValueError, KeyError, TypeError):
            self.count("bad message", client, repr(payload[:80]))
            return
        if kind != "joined" or client.done_at is not None:
            self.count(f"unexpected {kind} before the fill", client, position)
            return
        if message.get("recovered") is not None or message.get("group") != client.group:
            self.count("odd joined envelope", client, repr(payload[:120]))
        epoch, _, offset = position.rpartition(":")
        client.epoch, client.offset = epoch, int(offset)
        self.finish(client, now)

    def resume_message(self, client: Client, payload: bytes, now: float) -> None:
        try:
            message = json.loads(payload)
            kind, position = message["djws"], message["position"]
            epoch, _, offset = position.rpartition(":")
            index = int(offset) - client.offset  # 1..M for the replayed messages
        except (ValueError, KeyError, TypeError, AttributeError):
            self.count("bad message", client, repr(payload[:80]))
            return
        if client.done_at is not None:
            self.count(f"{kind} after joined", client, position)
            return
        if kind == "joined":
            if message.get("recovered") is not True:
                self.count("not recovered", client, repr(payload[:120]))
            elif position != self.last.get(client.group):
                self.count("joined elsewhere", client, position)
            if client.k != self.m:
                self.count("missing", client, f"{self.m - client.k} of {self.m} not replayed")
            self.finish(client, now)
            return
        if kind != "message" or message.get("group") != client.group:
            self.count(f"unexpected {kind}", client, repr(payload[:120]))
            return
        self.counts["parsed"] = self.counts.get("parsed", 0) + 1
        if epoch != client.epoch or not 1 <= index <= self.m:
            self.count("not a missed message", client, position)
            return
        ahead = client.ahead
        if index <= client.k or (ahead is not None and index in ahead):
            self.count("duplicate", client, position)
            return
        if index > client.k + 1:
            expected = f"{client.epoch}:{client.offset + client.k + 1}"
            self.count("gap", client, f"got {position}, expected {expected}")
            if ahead is None:
                ahead = client.ahead = set()
            ahead.add(index)
            return
        data = message.get("data")
        if data != self.rows[client.group][index - 1][1]:
            self.count("wrong payload", client, f"{position}: {data!r}"[:120])
        if ahead:
            self.count("out of order", client, position)
        client.k = index  # the next one (in another JSON spelling than expected)
        while ahead and client.k + 1 in ahead:
            ahead.discard(client.k + 1)
            client.k += 1

    def reload_message(self, client: Client, payload: bytes, now: float) -> None:
        if client.done_at is not None:
            self.count("message after the rows", client, repr(payload[:80]))
            return
        try:
            message = json.loads(payload)
            rows = [(row["position"], row["text"]) for row in message["messages"]]
        except (ValueError, KeyError, TypeError):
            self.count("bad rows", client, repr(payload[:80]))
            rows = None
        if rows is not None and rows != self.rows[client.group]:
            self.count("wrong rows", client, f"{len(rows)} rows, first {rows[:1]}")
        client.k = len(rows or ())
        self.finish(client, now)

    def on_closed(self, conn: Conn, now: float, error: str | None) -> None:
        client: Client | None = conn.extra
        if client is None or client.conn is not conn or client.done_at is not None:
            return
        client.failed = True
        self.finished += 1
        if self.mode in ("join", "resume", "reload"):
            self.count(f"{self.mode}: closed early", client, error or "clean close")
