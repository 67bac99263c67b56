"""What a broadcast message is on the wire, and what a view receives.

A published message is encoded once, by the publisher, into *wire bytes*: one
kind byte followed by the payload::

    b"t" + UTF-8 text          a str: a text frame
    b"j" + UTF-8 JSON text     any other object: a text frame, decoded for views
    b"b" + bytes               bytes: a binary frame
    b"r" + UTF-8 JSON text     a fragment each member's worker renders for its user (:mod:`.tailor`)
    b"a" + b"<n>:" + two wires one wire of n bytes for HTML pages, then one for other clients

Every server process that receives those bytes frames them once
(:func:`djws.protocol.frames.encode_frame`) and writes the same frame to every
uncompressed recipient; nothing is re-encoded per connection. JSON keeps its own
kind so that a view receiving :class:`GroupMessage` objects gets the decoded
object back, not a string it has to parse.

Messages for one user or one session travel on a single shared channel, so they
carry their target in front: ``b"<length>:" + target + wire``.

A client that asked for positions (``?djws=1``: djws.js does) gets group
messages in a JSON text frame instead -- an *envelope* -- with the group and
the message's position, so that it can resume after a reconnection::

    {"djws": "message", "group": "room", "position": "3f9a01c2:17",
     "kind": "json", "data": {"text": "hi"}}      # "text": a string; "binary": base64

and, after each join, ``{"djws": "joined", "group": ..., "position": ...,
"recovered": true | false | null}`` (null: the client did not ask to resume;
false: it asked, and the messages it missed are no longer in the history: it
must reload its state), or ``{"djws": "reset", ...}`` when a gap opened that
the history could not fill. Top-level ``"djws"`` keys in JSON objects sent to
such clients are reserved for these.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from ..protocol.frames import OP_BINARY, OP_TEXT
from .position import Position

__all__ = [
    "ALTERNATIVES",
    "BINARY",
    "JSON",
    "RENDER",
    "TEXT",
    "GroupMessage",
    "GroupReset",
    "alternatives",
    "check_wire",
    "encode",
    "envelope",
    "joined_envelope",
    "opcode_of",
    "reset_envelope",
    "split_alternatives",
    "split_target",
    "with_target",
]

TEXT = ord("t")
JSON = ord("j")
BINARY = ord("b")
RENDER = ord("r")
ALTERNATIVES = ord("a")
_KINDS = {
    TEXT: "text",
    JSON: "json",
    BINARY: "binary",
    RENDER: "render",
    ALTERNATIVES: "alternatives",
}


def encode(message: Any) -> bytes:
    """Return the wire bytes of ``message``: str is text, bytes binary, anything else JSON.

    JSON goes through Django's encoder, so dates, decimals, UUIDs and lazy
    translations publish as they do in a ``JsonResponse``. An object with a
    ``djws_wire()`` method (:class:`djws.live.PerUser`) gives its own bytes.
    """
    own = getattr(message, "djws_wire", None)
    if callable(own):
        wire = own()
        check_wire(wire)
        return bytes(wire)
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


def alternatives(html: bytes | None, other: bytes | None) -> bytes:
    """The wire of a message with one version for HTML pages and one for other clients.

    Either may be None: the clients of that kind then get nothing.
    """
    html = html or b""
    return b"a%d:" % len(html) + html + (other or b"")


def split_alternatives(wire: bytes) -> tuple[bytes, bytes]:
    """Return ``(html, other)`` from :func:`alternatives`' bytes (``b""`` for none)."""
    colon = wire.index(b":")
    end = colon + 1 + int(wire[1:colon])
    return wire[colon + 1 : end], wire[end:]


def opcode_of(wire: bytes) -> int:
    """The WebSocket opcode a message is forwarded with."""
    return OP_BINARY if wire[0] == BINARY else OP_TEXT


def check_wire(wire: bytes) -> None:
    """Raise ValueError unless ``wire`` starts with a known kind byte."""
    if not wire or wire[0] not in _KINDS:
        raise ValueError(f"not a djws broadcast message: {bytes(wire[:16])!r}")


def with_target(target: str, wire: bytes) -> bytes:
    """Prefix ``wire`` with its target (a user or session group name)."""
    name = target.encode()
    return b"%d:" % len(name) + name + wire


def split_target(data: bytes) -> tuple[str, bytes]:
    """Return ``(target, wire)`` from :func:`with_target`'s bytes."""
    colon = data.index(b":")
    start = colon + 1
    end = start + int(data[:colon])
    return data[start:end].decode(), data[end:]


def envelope(group: str, position: Position, wire: bytes) -> bytes:
    """The JSON envelope of a group message, for clients that asked for positions."""
    kind, payload = wire[0], wire[1:]
    head = b'{"djws":"message","group":%s,"position":"%s",' % (
        json.dumps(group).encode(),
        str(position).encode(),
    )
    if kind == JSON:
        return head + b'"kind":"json","data":' + payload + b"}"
    if kind == BINARY:
        return head + b'"kind":"binary","data":"' + base64.b64encode(payload) + b'"}'
    return head + b'"kind":"text","data":' + json.dumps(payload.decode()).encode() + b"}"


def joined_envelope(group: str, position: Position, recovered: bool | None) -> bytes:
    """Tell a client where it stands in ``group`` after joining, and whether it resumed."""
    return json.dumps(
        {"djws": "joined", "group": group, "position": str(position), "recovered": recovered}
    ).encode()


def reset_envelope(group: str, position: Position) -> bytes:
    """Tell a client that messages of ``group`` were lost: it must reload its state."""
    return json.dumps({"djws": "reset", "group": group, "position": str(position)}).encode()


@dataclass(frozen=True)
class GroupReset:
    """Handed to a view that joined with ``forward=False`` when messages of a group were lost.

    The gap could not be filled from the history (or the client's position was
    too old): reload what depends on the group's messages, e.g. from the database.
    """

    group: str
    #: Where delivery continues from.
    position: Position


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
    #: Where it stands in the group's stream.
    position: Position | None = None

    @property
    def kind(self) -> str:
        """``"text"``, ``"binary"`` or ``"json"``: what was published.

        A view is always handed one of those three. Only :func:`~djws.broadcast.history`
        returns the two kinds a worker tailors for each member: ``"render"``
        (``data``: the template and context of :class:`djws.live.PerUser`) and
        ``"alternatives"`` (``data``: ``{"html": ..., "message": ...}``).
        """
        return _KINDS[self.wire[0]]

    @property
    def data(self) -> Any:
        """The message as published: ``str``, ``bytes``, or the decoded JSON object.

        JSON is decoded on each access, so every view gets its own copy to modify.
        """
        kind, payload = self.wire[0], self.wire[1:]
        if kind == BINARY:
            return payload
        if kind in (JSON, RENDER):
            return json.loads(payload)
        if kind == ALTERNATIVES:
            html, other = split_alternatives(self.wire)
            return {
                "html": GroupMessage(self.group, html).data if html else None,
                "message": GroupMessage(self.group, other).data if other else None,
            }
        return payload.decode()

    @property
    def raw(self) -> str | bytes:
        """The message as it is forwarded to clients: JSON stays its text."""
        payload = self.wire[1:]
        return payload if self.wire[0] == BINARY else payload.decode()
