"""WebSocket frames as the server writes them (RFC 6455), and the names the codec shares.

Opcodes, close codes, and the encoders: :func:`encode_frame`, :func:`encode_close`,
:func:`encode_compressed`. Reading what a client sends is :mod:`.parser`'s job.

A server frame is never masked, so for an uncompressed message it is a two to
ten byte header followed by the payload: :func:`encode_frame` builds it without
any object, and a broadcast builds it once for every recipient. Compressed
connections encode per connection (:func:`encode_compressed`), because each has
its own deflate context.
"""

from __future__ import annotations

from struct import Struct
from typing import TYPE_CHECKING

from websockets.frames import EXTERNAL_CLOSE_CODES, Frame, Opcode

if TYPE_CHECKING:
    from websockets.extensions.permessage_deflate import PerMessageDeflate

__all__ = [
    "INVALID_DATA",
    "MESSAGE_TOO_BIG",
    "NO_STATUS_RCVD",
    "OPCODES",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "PROTOCOL_ERROR",
    "U16",
    "U64",
    "Outgoing",
    "encode_close",
    "encode_compressed",
    "encode_frame",
    "valid_close_code",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: A message to send: opcode, payload, and the payload already framed (or None),
#: when one frame is shared by the recipients of a broadcast.
Outgoing = tuple[int, bytes, bytes | None]

# Close codes (RFC 6455, 7.4), named where the parser uses them.
PROTOCOL_ERROR = 1002
NO_STATUS_RCVD = 1005
INVALID_DATA = 1007
MESSAGE_TOO_BIG = 1009

#: Big-endian 16 and 64-bit lengths and codes, and the websockets Opcode of each opcode.
U16 = Struct("!H")
U64 = Struct("!Q")
OPCODES = {int(op): op for op in Opcode}
_HEADER_16 = Struct("!BBH")
_HEADER_64 = Struct("!BBQ")


def valid_close_code(code: int) -> bool:
    """Tell whether ``code`` may appear in a close frame (RFC 6455, 7.4).

    The registered codes a peer may send (1004-1006 and 1015 are reserved for
    reporting, never sent), as websockets lists them, and 3000-4999 for
    libraries and applications.
    """
    return code in EXTERNAL_CLOSE_CODES or 3000 <= code < 5000


def encode_frame(opcode: int, payload: bytes, *, rsv1: bool = False) -> bytes:
    """Return one final, unmasked frame carrying ``payload``."""
    first = 0xC0 | opcode if rsv1 else 0x80 | opcode
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return _HEADER_16.pack(first, 126, length) + payload
    return _HEADER_64.pack(first, 127, length) + payload


def encode_close(code: int, reason: str = "") -> bytes:
    """Return a close frame; code 1005 (no status) sends one without a status code."""
    if code == NO_STATUS_RCVD:
        return b"\x88\x00"
    return encode_frame(OP_CLOSE, U16.pack(code) + reason.encode())


def encode_compressed(deflate: PerMessageDeflate, opcode: int, payload: bytes) -> bytes:
    """Return one final frame carrying ``payload`` compressed with ``deflate``."""
    frame = deflate.encode(Frame(OPCODES[opcode], payload))
    return encode_frame(opcode, bytes(frame.data), rsv1=frame.rsv1)
