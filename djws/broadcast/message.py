"""What a broadcast message is on the wire, and what a view receives.

A published message is encoded once, by the publisher, into *wire bytes*: one
kind byte followed by the payload::

    b"t" + UTF-8 text          a str: a text frame
    b"j" + UTF-8 JSON text     any other object: a text frame, decoded for views
    b"b" + bytes               bytes: a binary frame

Every server process that receives those bytes frames them once
(:func:`djws.frames.encode_frame`) and writes the same frame to every
uncompressed recipient; nothing is re-encoded per connection. JSON keeps its own
kind so that a view receiving :class:`GroupMessage` objects gets the decoded
object back, not a string it has to parse.

Messages for one user or one session travel on a single shared channel, so they
carry their target in front (an *envelope*): ``b"<length>:" + target + wire``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from ..protocol.frames import OP_BINARY, OP_TEXT

__all__ = [
    "BINARY",
    "JSON",
    "TEXT",
    "GroupMessage",
    "check_wire",
    "encode",
    "opcode_of",
    "split_envelope",
    "wrap_envelope",
]

TEXT = ord("t")
JSON = ord("j")
BINARY = ord("b")
_KINDS = {TEXT: "text", JSON: "json", BINARY: "binary"}


def encode(message: Any) -> bytes:
    """Return the wire bytes of ``message``: str is text, bytes binary, anything else JSON.

    JSON goes through Django's encoder, so dates, decimals, UUIDs and lazy
    translations publish as they do in a ``JsonResponse``.
    """
    if isinstance(message, str):
        return b"t" + message.encode()
    if isinstance(message, (bytes, bytearray, memoryview)):
        return b"b" + bytes(message)
    try:
        text = json.dumps(message, cls=DjangoJSONEncoder)
    except TypeError as exc:
        raise TypeError(
            f"cannot publish {type(message).__name__}: send str, bytes, or an object "
            f"that json.dumps() accepts ({exc})"
        ) from None
    return b"j" + text.encode()


def opcode_of(wire: bytes) -> int:
    """The WebSocket opcode a message is forwarded with."""
    return OP_BINARY if wire[0] == BINARY else OP_TEXT


def check_wire(wire: bytes) -> None:
    """Raise ValueError unless ``wire`` starts with a known kind byte."""
    if not wire or wire[0] not in _KINDS:
        raise ValueError(f"not a djws broadcast message: {bytes(wire[:16])!r}")


def wrap_envelope(target: str, wire: bytes) -> bytes:
    """Prefix ``wire`` with its target (a user or session group name)."""
    name = target.encode()
    return b"%d:" % len(name) + name + wire


def split_envelope(data: bytes) -> tuple[str, bytes]:
    """Return ``(target, wire)`` from :func:`wrap_envelope`'s bytes."""
    colon = data.index(b":")
    start = colon + 1
    end = start + int(data[:colon])
    return data[start:end].decode(), data[end:]


@dataclass(frozen=True)
class GroupMessage:
    """A message published to a group, received by a view that joined with ``forward=False``.

    ``ws.receive()`` returns it between the client's own messages::

        ws.join("room", forward=False)
        for item in ws:
            if isinstance(item, broadcast.GroupMessage):
                ws.send(item.raw)        # write it through, or transform it first
    """

    #: The group it was published to (for users and sessions, an internal name).
    group: str
    #: The wire bytes (see this module's docstring); use :attr:`data` or :attr:`raw`.
    wire: bytes

    @property
    def kind(self) -> str:
        """``"text"``, ``"binary"`` or ``"json"``: what was published."""
        return _KINDS[self.wire[0]]

    @property
    def data(self) -> Any:
        """The message as published: ``str``, ``bytes``, or the decoded JSON object.

        JSON is decoded on each access, so every view gets its own copy to modify.
        """
        kind, payload = self.wire[0], self.wire[1:]
        if kind == BINARY:
            return payload
        if kind == JSON:
            return json.loads(payload)
        return payload.decode()

    @property
    def raw(self) -> str | bytes:
        """The message as it is forwarded to clients: JSON stays its text."""
        payload = self.wire[1:]
        return payload if self.wire[0] == BINARY else payload.decode()
