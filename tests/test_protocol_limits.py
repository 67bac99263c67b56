"""Memory per connection is bounded by the message limit, whatever the framing.

The parser (:class:`djws.protocol.parser.Parser`) assembles a fragmented message
in one buffer, without a per-fragment object, and weighs every frame of a
fragmented message with its header: empty or one-byte fragments cannot stretch a
message forever. Compressed input counts as it arrives, and once inflated.
Counted here in allocated memory blocks on the parser alone;
``tests/test_faults.py`` sends the same floods to a real worker and watches its
RSS.
"""

from __future__ import annotations

import itertools
import sys
import zlib
from collections.abc import Iterable, Iterator

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate

from djws.protocol.parser import Parser

from .support import client_frame

pytestmark = pytest.mark.fast

MIB = 1 << 20
TEXT, BINARY, CONT = 0x1, 0x2, 0x0


def deflate() -> PerMessageDeflate:
    return PerMessageDeflate(False, False, 15, 12)


def reads(frames: Iterable[bytes], size: int = 65536) -> Iterator[bytes]:
    """Group frames into reads of about ``size`` bytes, as a socket delivers them."""
    batch = bytearray()
    for frame in frames:
        batch += frame
        if len(batch) >= size:
            yield bytes(batch)
            batch.clear()
    if batch:
        yield bytes(batch)


def feed_all(parser: Parser, frames: Iterable[bytes]) -> list[str | bytes]:
    """Feed ``frames`` until the parser stops; return the messages."""
    messages: list[str | bytes] = []
    for data in reads(frames):
        messages += parser.feed(data)
        while parser.more:  # as the connection does: the next batch of frames read
            messages += parser.feed(b"")
        if parser.done:
            break
    return messages


def fragments(opcode: int, pieces: Iterable[bytes], *, rsv: int = 0) -> Iterator[bytes]:
    """The frames of one message: ``opcode`` first, continuations, the last one final."""
    pieces = iter(pieces)
    current = next(pieces)
    first = True
    for piece in pieces:
        yield client_frame(opcode if first else CONT, current, fin=False, rsv=rsv if first else 0)
        first, current = False, piece
    yield client_frame(opcode if first else CONT, current, rsv=rsv if first else 0)


def test_a_million_one_byte_fragments_are_refused_at_the_limit() -> None:
    """7 bytes each on the wire: the 149,797th fragment takes the message over 1 MiB."""
    parser = Parser(max_message_size=MIB)
    assert feed_all(parser, fragments(BINARY, itertools.repeat(b"x", 1_000_000))) == []
    assert parser.error == (
        1009,
        "message of 1048579 bytes or more over the limit, counting the headers of its"
        " 149797 frames",
    )


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_fragments_cost_no_memory_block_each(opcode: int) -> None:
    """100,000 two-byte fragments of a message still arriving: a handful of blocks."""
    parser = Parser(max_message_size=None)
    frames = list(fragments(opcode, itertools.repeat(b"yz", 100_001)))
    before = sys.getallocatedblocks()
    assert feed_all(parser, frames[:-1]) == []  # all but the final frame
    grown = sys.getallocatedblocks() - before
    assert grown < 100, f"{grown} memory blocks for 100,000 fragments"
    (message,) = parser.feed(frames[-1])
    assert message == ("yz" * 100_001 if opcode == TEXT else b"yz" * 100_001)


def test_fragments_under_the_limit_with_their_headers_come_out_whole() -> None:
    # 1,000 fragments of 100 bytes: 100,000 bytes of payload and 6,000 of headers.
    parser = Parser(max_message_size=106_000)
    assert feed_all(parser, fragments(TEXT, itertools.repeat(b"z" * 100, 1000))) == ["z" * 100_000]
    parser = Parser(max_message_size=105_999)
    assert feed_all(parser, fragments(TEXT, itertools.repeat(b"z" * 100, 1000))) == []
    assert parser.error == (
        1009,
        "message of 106000 bytes or more over the limit, counting the headers of its 1000 frames",
    )


def test_empty_compressed_continuation_frames_are_refused_at_the_limit() -> None:
    """6 bytes each: 2,000,000 of them would be 12 MB; refused at 1 MiB."""
    parser = Parser(max_message_size=MIB, deflate=deflate())
    frames = fragments(BINARY, itertools.repeat(b"", 2_000_000), rsv=0b100)
    assert feed_all(parser, frames) == []
    assert parser.error == (
        1009,
        "compressed message of 1048578 bytes or more over the limit, counting the headers of"
        " its 174763 frames",
    )


def test_compressed_input_counts_even_when_it_inflates_to_nothing() -> None:
    """Empty stored deflate blocks: kilobytes in, nothing out, still weighed."""
    parser = Parser(max_message_size=100_000, deflate=deflate())
    padding = b"\x00\x00\x00\xff\xff" * 2000  # 10,000 bytes, each block empty
    assert feed_all(parser, fragments(BINARY, [padding] * 20, rsv=0b100)) == []
    assert parser.error == (
        1009,
        "compressed message of 100080 bytes or more over the limit, counting the headers of"
        " its 10 frames",
    )


def test_a_compressed_message_that_fills_the_limit_then_grows_is_refused() -> None:
    """With no room left, the next frame may inflate to nothing more."""
    compressor = zlib.compressobj(wbits=-15)
    first = compressor.compress(b"a" * 1000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(b"b" * 100_000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    parser = Parser(max_message_size=1000, deflate=deflate())
    assert feed_all(parser, fragments(BINARY, [first, second[:-4]], rsv=0b100)) == []
    assert parser.error == (1009, "message over the limit once decompressed")


def test_a_compressed_message_exactly_at_the_limit_is_accepted() -> None:
    compressor = zlib.compressobj(wbits=-15)
    first = compressor.compress(b"a" * 600) + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(b"b" * 400) + compressor.flush(zlib.Z_SYNC_FLUSH)
    parser = Parser(max_message_size=1000, deflate=deflate())
    messages = feed_all(parser, fragments(BINARY, [first, second[:-4]], rsv=0b100))
    assert messages == [b"a" * 600 + b"b" * 400]
    assert parser.error is None


def test_reasons_fit_in_a_close_frame_whatever_the_numbers() -> None:
    parser = Parser(max_message_size=(1 << 62) - 1, deflate=deflate())
    parser.feed(client_frame(BINARY, b"", fin=False, rsv=0b100))
    parser.feed(client_frame(CONT, fin=False, length=1 << 62)[:14])
    assert parser.error is not None
    code, reason = parser.error
    assert code == 1009
    assert reason.startswith("compressed message of 4611686018427387924 bytes")
    assert len(reason.encode()) <= 123
