"""Build server frames fast.

A server frame is never masked, so for an uncompressed message it is a two to
ten byte header followed by the payload. Building it here is several times
faster than going through the protocol object, and a broadcast builds it once
for every recipient. Compressed connections go through their protocol object
instead, because each has its own deflate context.
"""

from __future__ import annotations

from struct import Struct

__all__ = ["OP_BINARY", "OP_TEXT", "encode_frame"]

OP_TEXT = 0x1
OP_BINARY = 0x2

_HEADER_16 = Struct("!BBH")
_HEADER_64 = Struct("!BBQ")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """Return one final, unmasked, uncompressed frame carrying ``payload``."""
    first = 0x80 | opcode
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return _HEADER_16.pack(first, 126, length) + payload
    return _HEADER_64.pack(first, 127, length) + payload
