"""NOTIFY payloads of the PostgreSQL broadcast backend (:mod:`.postgres`).

A NOTIFY payload is text shorter than 8000 bytes: a message goes inline when it
fits (text as is, binary in base64); receivers read a larger one from the
history by its offset (the payload is then ``@``).
"""

from __future__ import annotations

import base64

__all__ = ["NOTIFY_LIMIT", "decode_payload", "encode_payload"]

#: Largest NOTIFY payload sent inline, in bytes (PostgreSQL refuses 8000 and more),
#: leaving room for the position in front of it.
NOTIFY_LIMIT = 7960


def encode_payload(wire: bytes) -> str | None:
    """The NOTIFY payload for ``wire``, or None if it is too large to go inline.

    ``u`` + the text when ``wire`` is UTF-8 without NUL (PostgreSQL text cannot
    hold NUL), else ``b`` + base64.
    """
    try:
        text = wire.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return "u" + text if len(wire) < NOTIFY_LIMIT else None
    payload = "b" + base64.b64encode(wire).decode()
    return payload if len(payload) <= NOTIFY_LIMIT else None


def decode_payload(payload: str) -> bytes | None:
    """``wire`` from :func:`encode_payload`; None for ``@``, a message read from the history."""
    tag, body = payload[:1], payload[1:]
    if tag == "u":
        return body.encode()
    if tag == "b":
        return base64.b64decode(body)
    if tag == "@":
        return None
    raise ValueError(f"not a djws notification: {payload[:20]!r}")
