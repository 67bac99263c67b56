"""The WebSocket frames the load client sends and recognises (RFC 6455, section 5).

Client frames are masked (:func:`mask_frame`, the one masked-frame encoder of the
whole bench: ``churn.py`` and ``codec.py`` use it too); a scenario builds the frames
it sends once, in advance. Server frames are not masked: :func:`server_frame` builds
the exact bytes a short echo arrives as, which the engine's fast path compares whole.
"""

from __future__ import annotations

import struct

MASK = b"\x37\xfa\x21\x3d"

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def mask_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False, mask: bytes = MASK
) -> bytes:
    """Return one masked client frame carrying ``payload``: final unless ``fin`` is
    false, with the RSV1 bit (permessage-deflate's "compressed") when ``rsv1``, masked
    with the 4-byte key ``mask``."""
    n = len(payload)
    first = bytes(((0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode,))
    if n < 126:
        head = first + bytes((0x80 | n,))
    elif n < 65536:
        head = first + struct.pack("!BH", 0x80 | 126, n)
    else:
        head = first + struct.pack("!BQ", 0x80 | 127, n)
    if not n:
        return head + mask
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + masked


def server_frame(opcode: int, payload: bytes) -> bytes:
    """Return the unmasked frame a server sends for a small ``payload``."""
    assert len(payload) < 126
    return bytes((0x80 | opcode, len(payload))) + payload


CLOSE_FRAME = mask_frame(OP_CLOSE, struct.pack("!H", 1000))


def close_code_in(tail: bytes) -> int | None:
    """The code of the last server close frame in ``tail`` (the end of a stream), if any."""
    at = tail.rfind(b"\x88")
    if at < 0 or len(tail) < at + 4 or tail[at + 1] < 2:
        return None
    return int.from_bytes(tail[at + 2 : at + 4], "big")
