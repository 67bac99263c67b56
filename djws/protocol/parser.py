"""Reading what a client sends (RFC 6455, server side), without any I/O.

:class:`Parser` turns the bytes of one connection into messages (``str`` for
text, ``bytes`` for binary) and control events. The permessage-deflate
extension (RFC 7692) is the ``websockets`` library's: its
:class:`PerMessageDeflate` object decompresses whole frames for us.

Why djws parses frames itself instead of using the sans-I/O ``Protocol`` of the
``websockets`` library (measured with ``bench/codec.py``, numbers and reasoning
in ``docs/topics/protocol.rst``):

* **Fail fast.** ``Protocol`` hands over a frame only once all of its payload
  has arrived, so invalid UTF-8 at the start of a large text frame is noticed
  only at its end. This parser streams a frame's payload as it arrives and
  validates text incrementally: the connection fails as soon as the first bad
  byte is seen, which is what the Autobahn conformance suite grades as strict.
* **Order.** Messages parsed before a protocol violation (or a close frame) in
  the same read are returned in order, followed by the failure or the close;
  ``Protocol`` queues its close frame at once, before the application could
  answer the messages that came first.
* **Speed.** A whole, uncompressed message in one frame -- nearly every message
  in practice -- is parsed by one short loop iteration: header, unmask (the C
  ``apply_mask`` of ``websockets``), decode. About twice the ``Protocol`` rate.

**Bounded memory.** A fragmented message is assembled in one ``bytearray``, and
each of its frames weighs its header (6 to 14 bytes) against ``max_message_size``:
empty or tiny fragments cannot stretch a message (a million one-byte fragments
weigh 7 MB). A compressed message must fit both as it arrives and once inflated.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Frame

from .frames import (
    INVALID_DATA,
    MESSAGE_TOO_BIG,
    NO_STATUS_RCVD,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    OPCODES,
    PROTOCOL_ERROR,
    U16,
    U64,
    valid_close_code,
)

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C extension is built on every platform we test
    from websockets.utils import apply_mask

if TYPE_CHECKING:
    from websockets.extensions.permessage_deflate import PerMessageDeflate

__all__ = ["FRAMES_PER_FEED", "Parser"]

#: Frames one :meth:`Parser.feed` parses at most: 64 KiB of the smallest frames is
#: about 10,000 of them, 4 ms of work that no other greenlet could interrupt.
FRAMES_PER_FEED = 256

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class _Fail(Exception):  # noqa: N818 - internal control flow, never escapes the parser
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class Parser:
    """Turn the bytes of one client connection into messages and control events.

    Feed it with :meth:`feed`; it returns the complete messages in order. Pings
    to answer collect in :attr:`pings`. Parsing stops for good at the first of:

    * a close frame: :attr:`close` is set to ``(code, reason, payload)`` (code
      1005 for a close frame without one; ``payload`` is what to echo);
    * a violation: :attr:`error` is set to ``(code, reason)``: 1002 for a
      protocol error, 1007 for invalid UTF-8, 1009 for a message or frame over
      the limit.

    The parser never raises for anything a client sends.
    """

    # No __dict__: a worker holds one parser per connection.
    __slots__ = (  # noqa: SIM905 - one name per line would take a screen
        "__weakref__ _buffer _compressed _decoder _frame_data _frame_fin _frame_opcode"
        " _frame_rsv1 _frames _mask _mask_offset _message _message_opcode _remaining _weight"
        " close deflate done error max_frame_size max_message_size more pings"
    ).split()

    def __init__(
        self,
        *,
        max_message_size: int | None = None,
        max_frame_size: int | None = None,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self.max_message_size = max_message_size
        self.max_frame_size = max_frame_size
        self.deflate = deflate
        #: Payloads of pings received, oldest first; the connection answers and clears.
        self.pings: list[bytes] = []
        #: ``(code, reason, payload)`` of the client's close frame, once received.
        self.close: tuple[int, str, bytes] | None = None
        #: ``(code, reason)`` once the client broke the protocol.
        self.error: tuple[int, str] | None = None
        #: True once a close frame or an error ended parsing.
        self.done = False
        #: True when :meth:`feed` stopped at :data:`FRAMES_PER_FEED` frames with
        #: more buffered: ``feed(b"")`` parses the next ones.
        self.more = False
        self._buffer = b""
        # The data frame whose payload is arriving.
        self._remaining = 0
        self._mask = b""
        self._mask_offset = 0
        self._frame_fin = False
        self._frame_rsv1 = False
        self._frame_opcode = OP_CONT
        self._frame_data = bytearray()  # a compressed frame's payload, inflated once whole
        # The message being assembled from several frames, or several reads.
        self._message_opcode = 0  # 0: none in progress
        self._compressed = False
        self._message = bytearray()  # its payload so far (inflated)
        self._weight = 0  # what counts toward the limit as it arrives: see _check_data
        self._frames = 0
        self._decoder: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> list[str | bytes]:
        """Parse ``data``; return the messages it completes, oldest first.

        At most :data:`FRAMES_PER_FEED` frames are parsed; :attr:`more` says
        whether buffered bytes hold more.
        """
        self.more = False
        if self.done:
            return []
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        messages: list[str | bytes] = []
        pos = 0
        end = len(data)
        budget = FRAMES_PER_FEED
        try:
            while pos < end:
                if self._remaining:
                    take = min(self._remaining, end - pos)
                    self._payload(data[pos : pos + take], messages)
                    pos += take
                    continue
                if end - pos < 2:
                    break
                if not budget:
                    self.more = True
                    break
                budget -= 1
                first = data[pos]
                second = data[pos + 1]
                if not second & 0x80:
                    raise _Fail(PROTOCOL_ERROR, "client frames must be masked")
                length = second & 0x7F
                header = 6 if length < 126 else 8 if length == 126 else 14
                if end - pos < header:
                    break
                if length == 126:
                    length = U16.unpack_from(data, pos + 2)[0]
                elif length == 127:
                    length = U64.unpack_from(data, pos + 2)[0]
                opcode = first & 0x0F
                if opcode >= OP_CLOSE:
                    self._check_control(first, opcode, length)
                    if end - pos < header + length:
                        break  # wait for the whole control frame (at most 131 bytes)
                    start = pos + header
                    payload = apply_mask(data[start : start + length], data[start - 4 : start])
                    pos = start + length
                    self._control(opcode, payload)
                    if self.done:
                        break
                    continue
                self._check_data(first, opcode, length, header)
                mask = data[pos + header - 4 : pos + header]
                pos += header
                if opcode and first & 0xC0 == 0x80 and end - pos >= length:
                    # The common case: a whole uncompressed message in one frame.
                    payload = apply_mask(data[pos : pos + length], mask)
                    pos += length
                    messages.append(payload.decode() if opcode == OP_TEXT else payload)
                    continue
                self._start_frame(first, opcode, length, mask, messages)
        except _Fail as exc:
            self._stop(error=(exc.code, exc.reason))
            return messages
        except UnicodeDecodeError as exc:
            self._stop(error=(INVALID_DATA, f"invalid UTF-8: {exc.reason}"))
            return messages
        if pos < end and not self.done:
            self._buffer = data[pos:]
        return messages

    # Frame headers

    def _check_control(self, first: int, opcode: int, length: int) -> None:
        if opcode > OP_PONG:
            raise _Fail(PROTOCOL_ERROR, f"reserved opcode {opcode}")
        if first & 0x70:
            raise _Fail(PROTOCOL_ERROR, "reserved bits set in a control frame")
        if not first & 0x80:
            raise _Fail(PROTOCOL_ERROR, "fragmented control frame")
        if length > 125:
            raise _Fail(PROTOCOL_ERROR, "control frame payload over 125 bytes")

    def _check_data(self, first: int, opcode: int, length: int, header: int) -> None:
        """Check a data frame's header; count it toward its message's weight."""
        if opcode > OP_BINARY:
            raise _Fail(PROTOCOL_ERROR, f"reserved opcode {opcode}")
        if length >> 63:
            raise _Fail(PROTOCOL_ERROR, "frame length with the most significant bit set")
        if first & 0x30 or (first & 0x40 and (self.deflate is None or opcode == OP_CONT)):
            raise _Fail(PROTOCOL_ERROR, "reserved bits set without an extension defining them")
        if opcode == OP_CONT:
            if not self._message_opcode:
                raise _Fail(PROTOCOL_ERROR, "continuation frame without a message to continue")
        elif self._message_opcode:
            raise _Fail(PROTOCOL_ERROR, "new message before the previous one was finished")
        if self.max_frame_size is not None and length > self.max_frame_size:
            raise _Fail(MESSAGE_TOO_BIG, f"frame of {length} bytes over the limit")
        # A message's weight as it arrives, checked before a frame's payload is
        # read: its payload on the wire and, if fragmented, its frames' headers.
        if opcode == OP_CONT:
            weight, frames = self._weight + header + length, self._frames + 1
        elif first & 0x80:
            weight, frames = length, 0  # a whole message in one frame
        else:
            weight, frames = header + length, 1  # the first of several
        if self.max_message_size is not None and weight > self.max_message_size:
            kind = "compressed message" if first & 0x40 or self._compressed else "message"
            counted = f", counting the headers of its {frames} frames" if frames else ""
            raise _Fail(
                MESSAGE_TOO_BIG, f"{kind} of {weight} bytes or more over the limit{counted}"
            )
        self._weight, self._frames = weight, frames

    # Data frames

    def _start_frame(
        self, first: int, opcode: int, length: int, mask: bytes, messages: list[str | bytes]
    ) -> None:
        if opcode:
            self._message_opcode = opcode
            self._compressed = bool(first & 0x40)
            self._decoder = _utf8_decoder() if opcode == OP_TEXT else None
        self._frame_opcode = opcode
        self._frame_fin = bool(first & 0x80)
        self._frame_rsv1 = bool(first & 0x40)
        self._mask = mask
        self._mask_offset = 0
        self._remaining = length
        if not length:
            self._end_frame(messages)

    def _payload(self, chunk: bytes, messages: list[str | bytes]) -> None:
        """Take the next part of the current data frame's payload."""
        offset = self._mask_offset
        mask = self._mask if not offset else self._mask[offset:] + self._mask[:offset]
        chunk = apply_mask(chunk, mask)
        self._mask_offset = (offset + len(chunk)) & 3
        self._remaining -= len(chunk)
        if self._compressed:
            self._frame_data += chunk  # inflated once the frame is whole
        else:
            self._add(chunk, final=not self._remaining and self._frame_fin)
        if not self._remaining:
            self._end_frame(messages)

    def _end_frame(self, messages: list[str | bytes]) -> None:
        if self._compressed:
            self._inflate()
        if self._frame_fin:
            message = self._message
            self._message = bytearray()
            self._message_opcode = 0
            if self._decoder is None:
                messages.append(bytes(message))
            else:
                self._decoder = None
                messages.append(message.decode())  # validated as it arrived

    def _inflate(self) -> None:
        """Inflate the compressed frame just received, within the message limit."""
        data = self._frame_data
        self._frame_data = bytearray()
        frame = Frame(OPCODES[self._frame_opcode], data, self._frame_fin, self._frame_rsv1)
        limit = self.max_message_size
        room = None if limit is None else limit - len(self._message)
        try:  # room + 1: websockets reads a max_size of 0 as "no limit"
            max_size = None if room is None else room + 1
            inflated = self.deflate.decode(frame, max_size=max_size).data  # type: ignore[union-attr]
        except PayloadTooBig:
            inflated = None
        except ProtocolError as exc:
            raise _Fail(PROTOCOL_ERROR, str(exc)) from None
        if inflated is None or (room is not None and len(inflated) > room):
            raise _Fail(MESSAGE_TOO_BIG, "message over the limit once decompressed")
        self._add(inflated, final=self._frame_fin)

    def _add(self, data: bytes | bytearray | memoryview, *, final: bool) -> None:
        if self._decoder is not None:
            # Raises UnicodeDecodeError at the first invalid byte, even mid-frame;
            # the text itself is decoded once, when the message is complete.
            self._decoder.decode(data, final)
        self._message += data

    # Control frames

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self.pings.append(payload)
        elif opcode == OP_CLOSE:
            if not payload:
                self._stop(close=(NO_STATUS_RCVD, "", b""))
                return
            if len(payload) == 1:
                raise _Fail(PROTOCOL_ERROR, "close frame with a one-byte payload")
            code = U16.unpack_from(payload)[0]
            if not valid_close_code(code):
                raise _Fail(PROTOCOL_ERROR, f"invalid close code {code}")
            reason = payload[2:].decode()  # UnicodeDecodeError: 1007
            self._stop(close=(code, reason, payload))
        # A pong needs no answer: receiving anything counts as a sign of life.

    def _stop(
        self,
        *,
        close: tuple[int, str, bytes] | None = None,
        error: tuple[int, str] | None = None,
    ) -> None:
        """End parsing: RFC 6455 discards whatever follows a close frame or an error."""
        self.close = close
        self.error = error
        self.done = True
        self._buffer = b""
        self._message = bytearray()
        self._frame_data = bytearray()
        self._decoder = None
