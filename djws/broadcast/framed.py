"""Group messages framed once for all their recipients, and kept for a while.

A live message is framed once per process and the same bytes are written to
every member (:meth:`.hub.Hub._deliver`). A *replay* is the same message again:
when many clients resume at once (a deploy, a network blip), each of them is
sent the same stretch of the history. :class:`FrameCache` keeps the frames of
recent messages, by group and position, so that each is framed once, however
many clients are sent it; it is bounded in bytes, the oldest frames going first.
A message tailored per member (:mod:`.tailor`) is cached per version (``variant``).
"""

from __future__ import annotations

from ..protocol.frames import OP_TEXT, Outgoing, encode_frame
from .message import envelope, opcode_of
from .position import Position

__all__ = ["FrameCache"]


class FrameCache:
    """The frames of recent messages, at most ``limit`` bytes of them."""

    def __init__(self, limit: int = 4 << 20) -> None:
        self.limit = limit
        self.size = 0
        self._frames: dict[tuple[str, Position, bool, str], Outgoing] = {}

    def get(
        self, group: str, position: Position, wire: bytes, *, enveloped: bool, variant: str = ""
    ) -> Outgoing:
        """``wire`` as sent: as is, or (``enveloped``) in the envelope with its position.

        ``variant`` names the version of a message tailored per member (``wire`` is then
        that version): one frame per version.
        """
        key = (group, position, enveloped, variant)
        found = self._frames.get(key)
        if found is not None:
            return found
        if enveloped:
            opcode, payload = OP_TEXT, envelope(group, position, wire)
        else:
            opcode, payload = opcode_of(wire), wire[1:]
        frame = encode_frame(opcode, payload)
        outgoing = (opcode, payload, frame)
        size = len(payload) + len(frame)
        if size <= self.limit // 64:  # a large message is framed each time, not cached
            frames = self._frames
            frames[key] = outgoing
            self.size += size
            while self.size > self.limit:
                _opcode, old_payload, old_frame = frames.pop(next(iter(frames)))
                self.size -= len(old_payload) + len(old_frame or b"")
        return outgoing

    def __len__(self) -> int:
        return len(self._frames)
