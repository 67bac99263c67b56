"""Properties of the frame parser djws configures (:class:`djws.protocol.parser.Parser`).

Whatever bytes a client sends, in whatever pieces, the parser never raises: it
returns messages, or ends with a close code of 1002, 1007 or 1009 (or the
client's own close frame). Well-formed traffic comes out exactly as it went in,
however it is fragmented and split into reads. And end to end: random bytes
sent to a real server after the handshake get a close frame with one of
those codes and no traceback in the server's log.
"""

from __future__ import annotations

import socket
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate

from djws.protocol.frames import valid_close_code
from djws.protocol.parser import FRAMES_PER_FEED, Parser

from .support import RawClient, Server, client_frame

LIMIT = 4096
FAILURE_CODES = {1002, 1007, 1009}


def new_parser(compressed: bool) -> Parser:
    deflate = PerMessageDeflate(False, False, 15, 12) if compressed else None
    return Parser(max_message_size=LIMIT, max_frame_size=LIMIT, deflate=deflate)


def feed_in_pieces(parser: Parser, data: bytes, cuts: list[int]) -> list[str | bytes]:
    messages: list[str | bytes] = []
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        messages += parser.feed(data[start:cut])
        while parser.more:  # as the connection does: the next batch of frames read
            messages += parser.feed(b"")
        start = cut
    return messages


def assert_consistent(parser: Parser, messages: list[str | bytes]) -> None:
    assert all(type(m) in (str, bytes) for m in messages)
    assert all(len(m) <= LIMIT for m in messages)
    if parser.error is not None:
        assert parser.done
        assert parser.error[0] in FAILURE_CODES
        assert parser.close is None
    if parser.close is not None:
        assert parser.done
    if parser.done:
        assert parser.feed(client_frame(0x1)) == []  # nothing is parsed after the end


@pytest.mark.fast
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048), st.lists(st.integers(0, 4096), max_size=8), st.booleans())
def test_random_bytes_never_raise(data: bytes, cuts: list[int], compressed: bool) -> None:
    parser = new_parser(compressed)
    assert_consistent(parser, feed_in_pieces(parser, data, cuts))


# Frames with random header fields: reaches far deeper than random bytes, which
# nearly always fail at the mask bit.
frame_fields = st.tuples(
    st.integers(0, 15),  # opcode
    st.booleans(),  # fin
    st.integers(0, 7),  # rsv bits
    st.booleans(),  # masked
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=60).map(str.encode),
        st.sampled_from([b"\xce", b"\xba", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x03\xe8"]),
    ),
)


@pytest.mark.fast
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(frame_fields, max_size=12),
    st.lists(st.integers(0, 4096), max_size=8),
    st.booleans(),
)
def test_random_frames_never_raise(
    frames: list[tuple[int, bool, int, bool, bytes]], cuts: list[int], compressed: bool
) -> None:
    data = b"".join(
        client_frame(op, payload, fin=fin, rsv=rsv, mask=masked)
        for op, fin, rsv, masked, payload in frames
    )
    parser = new_parser(compressed)
    assert_consistent(parser, feed_in_pieces(parser, data, cuts))


messages_strategy = st.lists(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)), min_size=1, max_size=6
)


@pytest.mark.fast
@settings(max_examples=300, deadline=None)
@given(messages_strategy, st.integers(1, 50), st.lists(st.integers(0, 8192), max_size=10))
def test_fragmented_messages_come_out_whole(
    messages: list[str | bytes], fragment: int, cuts: list[int]
) -> None:
    data = b""
    for message in messages:
        opcode, payload = (1, message.encode()) if isinstance(message, str) else (2, message)
        pieces = [payload[i : i + fragment] for i in range(0, len(payload), fragment)] or [b""]
        for n, piece in enumerate(pieces):
            data += client_frame(opcode if n == 0 else 0, piece, fin=n == len(pieces) - 1)
            if n == 0:
                data += client_frame(0x9, b"ping")  # control frames may interleave
    # Up to 1,200 one-byte fragments of 7 bytes each (header included): room for them.
    parser = Parser(max_message_size=10_000, max_frame_size=LIMIT)
    assert feed_in_pieces(parser, data, cuts) == messages
    assert parser.error is None
    assert parser.pings == [b"ping"] * len(messages)


@pytest.mark.fast
@settings(max_examples=200, deadline=None)
@given(messages_strategy, st.lists(st.integers(0, 8192), max_size=10))
def test_compressed_messages_come_out_whole(messages: list[str | bytes], cuts: list[int]) -> None:
    compressor = zlib.compressobj(wbits=-15)
    data = b""
    for message in messages:
        opcode, payload = (1, message.encode()) if isinstance(message, str) else (2, message)
        compressed = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        data += client_frame(opcode, compressed[:-4], rsv=0b100)
    parser = new_parser(True)
    assert feed_in_pieces(parser, data, cuts) == messages
    assert parser.error is None


@pytest.mark.fast
def test_a_read_of_many_frames_is_parsed_a_batch_at_a_time() -> None:
    """So no connection parses 64 KiB of tiny frames (4 ms) without letting others run."""
    parser = Parser(max_message_size=LIMIT)
    data = b"".join(client_frame(0x1, str(n).encode()) for n in range(1000))
    data += client_frame(0x8, b"\x03\xe8")
    batches = [parser.feed(data)]
    while parser.more:
        batches.append(parser.feed(b""))
    assert [len(batch) for batch in batches] == [256, 256, 256, 232]
    assert [m for batch in batches for m in batch] == [str(n) for n in range(1000)]
    assert parser.close == (1000, "", b"\x03\xe8")
    assert FRAMES_PER_FEED == 256


def test_random_bytes_to_a_real_server_fail_with_a_close_code(server: Server) -> None:
    """A bounded, seeded fuzz of the live connection code; the worker logs no traceback."""
    import random

    rng = random.Random(6455)
    log_start = len(server.log())  # the session's server: earlier tests logged their own
    for _ in range(30):
        garbage = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
        with RawClient(server) as client:
            client.send(garbage)
            client.sock.shutdown(socket.SHUT_WR)
            try:
                while (frame := client.recv_frame())[0] & 0x0F != 0x8:
                    pass
            except EOFError:
                continue  # incomplete frame, then end of stream: 1006, nothing to send
            code = int.from_bytes(frame[2:4], "big")
            # A failure, or the echo of a valid close frame the garbage happened to hold;
            # never 1011, which would mean djws's own code raised.
            assert code in FAILURE_CODES or (valid_close_code(code) and code != 1011), frame
    assert "Traceback" not in server.log()[log_start:]
