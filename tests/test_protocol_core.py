"""The sans-I/O protocol core (:class:`djws.protocol.protocol.ServerProtocol`), bytes only.

No socket, no server: client frames go in, messages and server frames come out.
Properties: whatever a client sends before its close frame or its violation is
delivered in order and its pings answered, before the close is echoed or the
connection failed; the closing handshake records which close came first; after
the server's close, nothing but the client's close is acted on. Then the
keepalive decisions, with a clock the test controls.
"""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close

from djws.exceptions import ConnectionClosed
from djws.protocol.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT
from djws.protocol.protocol import ServerProtocol, State

from .support import client_frame

pytestmark = pytest.mark.fast

# What a client does, as (kind, payload) steps.
texts = st.text(max_size=40).map(lambda t: ("text", t))
binaries = st.binary(max_size=40).map(lambda b: ("binary", b))
pings = st.binary(max_size=20).map(lambda b: ("ping", b))
fragmented = st.lists(st.text(max_size=10), min_size=2, max_size=4).map(lambda p: ("frags", p))
closes = st.tuples(
    st.sampled_from([1000, 1001, 1003, 1008, 1011, 3000, 4999]), st.text(max_size=20)
).map(lambda c: ("close", c))
empty_closes = st.just(("close", None))
violations = st.sampled_from(
    [
        ("violation", (client_frame(OP_TEXT, b"\xff\xfe"), 1007)),  # invalid UTF-8
        ("violation", (client_frame(0x3, b"x"), 1002)),  # reserved opcode
        ("violation", (client_frame(OP_TEXT, b"x", mask=False), 1002)),  # unmasked
        ("violation", (client_frame(OP_CONT, b"x"), 1002)),  # nothing to continue
    ]
)
data_steps = st.one_of(texts, binaries, pings, fragmented)
ending = st.one_of(closes, empty_closes, violations)


def encode(step: tuple[str, object]) -> bytes:
    kind, value = step
    if kind == "text":
        return client_frame(OP_TEXT, str(value).encode())
    if kind == "binary":
        return client_frame(OP_BINARY, bytes(value))  # type: ignore[arg-type]
    if kind == "ping":
        return client_frame(OP_PING, bytes(value))  # type: ignore[arg-type]
    if kind == "frags":
        parts = [p.encode() for p in value]  # type: ignore[attr-defined]
        frames = [client_frame(OP_TEXT, parts[0], fin=False)]
        frames += [client_frame(OP_CONT, p, fin=False) for p in parts[1:-1]]
        frames.append(client_frame(OP_CONT, parts[-1]))
        return b"".join(frames)
    if kind == "close":
        if value is None:
            return client_frame(OP_CLOSE)
        code, reason = value  # type: ignore[misc]
        return client_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode())
    return value[0]  # type: ignore[index,no-any-return]


def expected_message(step: tuple[str, object]) -> str | bytes | None:
    kind, value = step
    if kind in ("text", "binary"):
        return value  # type: ignore[return-value]
    if kind == "frags":
        return "".join(value)  # type: ignore[arg-type]
    return None


def server_frames(chunks: list[bytes]) -> list[tuple[int, bytes]]:
    """Decode what the server wrote; ``(-1, b"")`` stands for its EOF."""
    frames = []
    for chunk in chunks:
        if not chunk:
            frames.append((-1, b""))
            continue
        pos = 0
        while pos < len(chunk):
            first, second = chunk[pos], chunk[pos + 1]
            assert not second & 0x80, "server frames are never masked"
            length, pos = second & 0x7F, pos + 2
            if length == 126:
                length, pos = struct.unpack_from("!H", chunk, pos)[0], pos + 2
            elif length == 127:
                length, pos = struct.unpack_from("!Q", chunk, pos)[0], pos + 8
            frames.append((first & 0x0F, chunk[pos : pos + length]))
            pos += length
    return frames


def run(protocol: ServerProtocol, data: bytes, cuts: list[int]) -> tuple[list, list]:
    """Feed ``data`` in pieces the way djws.server.connection does; return messages and output."""
    messages: list[str | bytes] = []
    output: list[bytes] = []
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        messages += protocol.receive_data(data[start:cut])
        start = cut
        # The application takes every message at once, so the end may come now.
        if protocol.end_pending:
            protocol.end()
        output += protocol.data_to_send()
    return messages, output


@settings(max_examples=300, deadline=None)
@given(
    st.lists(data_steps, max_size=8),
    ending,
    st.lists(data_steps, max_size=3),
    st.lists(st.integers(0, 10_000), max_size=6),
)
def test_everything_before_the_end_is_delivered_answered_and_ordered(
    steps: list[tuple[str, object]],
    end: tuple[str, object],
    after: list[tuple[str, object]],
    cuts: list[int],
) -> None:
    protocol = ServerProtocol(max_message_size=4096)
    data = b"".join(encode(step) for step in [*steps, end, *after])
    messages, output = run(protocol, data, cuts)

    assert messages == [m for m in map(expected_message, steps) if m is not None]
    frames = server_frames(output)
    pongs = [payload for opcode, payload in frames if opcode == OP_PONG]
    assert pongs == [value for kind, value in steps if kind == "ping"]
    # After the pongs: exactly one close frame, then EOF, then nothing.
    assert [opcode for opcode, _ in frames[len(pongs) :]] == [OP_CLOSE, -1]
    close_payload = frames[-2][1]
    assert protocol.state is State.CLOSING
    kind, value = end
    if kind == "close":
        # The client's close is echoed as it came (RFC 6455, 5.5.1).
        rcvd = Close(1005, "") if value is None else Close(*value)  # type: ignore[misc]
        assert protocol.close_rcvd == rcvd
        assert protocol.close_sent == rcvd
        assert protocol.close_rcvd_then_sent is True
        assert str(protocol.closed_error()) == f"received {rcvd}; then sent {rcvd}"
        expected_payload = b"" if value is None else struct.pack("!H", value[0]) + value[1].encode()  # type: ignore[index]
        assert close_payload == expected_payload
    else:
        code = value[1]  # type: ignore[index]
        assert struct.unpack("!H", close_payload[:2])[0] == code
        assert protocol.close_rcvd is None
        assert protocol.close_sent is not None
        assert protocol.close_sent.code == code
        assert protocol.close_code == code


@settings(max_examples=200, deadline=None)
@given(
    st.lists(data_steps, max_size=5),
    st.lists(data_steps, max_size=5),
    closes,
    st.lists(st.integers(0, 10_000), max_size=4),
)
def test_after_the_servers_close_only_the_clients_close_counts(
    before: list[tuple[str, object]],
    between: list[tuple[str, object]],
    client_close: tuple[str, object],
    cuts: list[int],
) -> None:
    protocol = ServerProtocol()
    messages, output = run(protocol, b"".join(map(encode, before)), cuts)
    assert messages == [m for m in map(expected_message, before) if m is not None]
    protocol.send_close(4000, "bye")
    with pytest.raises(ConnectionClosed):
        protocol.send_message(OP_TEXT, b"too late")
    late, later_output = run(protocol, b"".join(map(encode, [*between, client_close])), cuts)

    assert late == []  # messages after our close are discarded
    frames = server_frames(output + protocol.data_to_send() + later_output)
    opcodes = [opcode for opcode, _ in frames]
    # Pongs only for pings before our close; our close once; EOF after theirs.
    assert opcodes.count(OP_PONG) == sum(kind == "ping" for kind, _ in before)
    assert opcodes[-2:] == [OP_CLOSE, -1]
    assert opcodes.count(OP_CLOSE) == 1
    code, reason = client_close[1]  # type: ignore[misc]
    assert protocol.close_sent == Close(4000, "bye")
    assert protocol.close_rcvd == Close(code, reason)
    assert protocol.close_rcvd_then_sent is False
    assert (
        str(protocol.closed_error())
        == f"sent {Close(4000, 'bye')}; then received {Close(code, reason)}"
    )
    assert protocol.close_code == code  # the client's code wins, as the connection reports it


def test_a_close_requested_while_the_clients_close_is_pending_answers_the_client() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(client_frame(OP_TEXT, b"last") + client_frame(OP_CLOSE, b"\x03\xe9bye"))
    assert protocol.end_pending
    protocol.send_close(1000, "ours")
    assert protocol.close_sent == Close(1001, "bye")
    assert protocol.close_rcvd_then_sent is True
    assert server_frames(protocol.data_to_send()) == [(OP_CLOSE, b"\x03\xe9bye"), (-1, b"")]


def test_tcp_dropped_without_a_close_frame_is_1006() -> None:
    protocol = ServerProtocol()
    assert protocol.close_code is None
    protocol.connection_lost()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006
    assert protocol.close_reason == ""
    assert str(protocol.closed_error()) == "no close frame received or sent"
    assert protocol.receive_data(client_frame(OP_TEXT, b"ghost")) == []


def test_failing_sends_one_close_frame_then_eof() -> None:
    protocol = ServerProtocol()
    protocol.fail(1011, "keepalive ping timeout")
    protocol.fail(1002, "again")
    assert server_frames(protocol.data_to_send()) == [
        (OP_CLOSE, b"\x03\xf3keepalive ping timeout"),
        (-1, b""),
        (-1, b""),
    ]
    assert protocol.close_sent == Close(1011, "keepalive ping timeout")
    assert str(protocol.closed_error()) == (
        "sent 1011 (internal error) keepalive ping timeout; no close frame received"
    )


@pytest.mark.parametrize(("code", "reason"), [(1005, ""), (1006, ""), (999, ""), (1000, "x" * 124)])
def test_close_refuses_codes_and_reasons_that_cannot_be_sent(code: int, reason: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked in the reference tests
        ServerProtocol().send_close(code, reason)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ticking(clock: Clock, protocol: ServerProtocol, seconds: float, **limits: float | None) -> list:
    clock.now += seconds
    protocol.tick(
        clock.now, **{"ping_interval": None, "ping_timeout": None, "idle_timeout": None, **limits}
    )
    return server_frames(protocol.data_to_send())


def test_a_silent_client_is_pinged_then_failed_with_1011() -> None:
    clock = Clock()
    protocol = ServerProtocol(clock=clock)
    limits = {"ping_interval": 20.0, "ping_timeout": 10.0}
    assert ticking(clock, protocol, 19.9, **limits) == []
    assert ticking(clock, protocol, 0.1, **limits) == [(OP_PING, b"")]
    assert ticking(clock, protocol, 9.9, **limits) == []  # one ping at a time
    assert ticking(clock, protocol, 0.1, **limits) == [
        (OP_CLOSE, b"\x03\xf3keepalive ping timeout"),
        (-1, b""),
    ]


def test_a_pong_or_any_bytes_reset_the_keepalive() -> None:
    clock = Clock()
    protocol = ServerProtocol(clock=clock)
    limits = {"ping_interval": 20.0, "ping_timeout": 10.0}
    assert ticking(clock, protocol, 20, **limits) == [(OP_PING, b"")]
    clock.now += 9
    protocol.receive_data(client_frame(OP_PONG))
    assert protocol.ping_sent_at is None
    assert ticking(clock, protocol, 19, **limits) == []
    assert ticking(clock, protocol, 1, **limits) == [(OP_PING, b"")]


def test_idle_timeout_counts_messages_not_control_frames() -> None:
    clock = Clock()
    protocol = ServerProtocol(clock=clock)
    clock.now += 50
    protocol.receive_data(client_frame(OP_PING, b"alive"))
    protocol.data_to_send()
    assert ticking(clock, protocol, 10, idle_timeout=60.0) == [(OP_CLOSE, b"\x03\xe8idle timeout")]
    assert protocol.state is State.CLOSING


def test_due_is_when_tick_next_has_something_to_do() -> None:
    clock = Clock()
    protocol = ServerProtocol(clock=clock)
    limits: dict[str, float | None] = {"ping_interval": 20.0, "ping_timeout": 10.0}
    assert protocol.due(**limits, idle_timeout=None) == 120.0  # the next ping
    assert ticking(clock, protocol, 19, **limits) == []
    clock.now += 5  # bytes put the ping off
    protocol.receive_data(client_frame(OP_PONG))
    assert protocol.due(**limits, idle_timeout=None) == 144.0
    assert ticking(clock, protocol, 19, **limits) == []
    assert ticking(clock, protocol, 1, **limits) == [(OP_PING, b"")]
    assert protocol.due(**limits, idle_timeout=None) == 154.0  # the ping timeout
    # The idle timeout counts from the last message, whatever came since.
    assert protocol.due(**limits, idle_timeout=30.0) == 130.0
    assert protocol.due(ping_interval=None, ping_timeout=None, idle_timeout=None) == math.inf
    protocol.send_close()
    assert protocol.due(**limits, idle_timeout=30.0) == math.inf  # closing: nothing to do
