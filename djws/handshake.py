"""The opening handshake of RFC 6455, section 4.2, without any I/O.

``parse_handshake(environ)`` validates an upgrade request as the worker received
it and either returns a :class:`Handshake` or raises
:class:`~djws.exceptions.HandshakeError` carrying the HTTP answer (400, or 426 for
an unsupported version). Nothing here touches Django: a malformed upgrade is
refused before any middleware runs.

``Handshake.accept()`` builds the ``101 Switching Protocols`` response for the
subprotocol and extensions that were chosen. The response is only *built* here;
the worker writes it, and only when the view accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import InvalidHeader, NegotiationError
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.headers import build_extension, parse_extension, parse_subprotocol

from .exceptions import HandshakeError

__all__ = ["GUID", "Handshake", "is_upgrade_request", "parse_handshake"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUPPORTED_VERSION = "13"


def _tokens(value: str) -> set[str]:
    """Split a comma-separated header into lower-case tokens."""
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def is_upgrade_request(environ: Mapping[str, Any]) -> bool:
    """Tell whether the client asks for a WebSocket, well-formed or not.

    Only ``Upgrade: websocket`` decides: a request that names it gets WebSocket
    handling (and a 400 if the rest is wrong); anything else is plain HTTP.
    """
    return "websocket" in _tokens(environ.get("HTTP_UPGRADE", ""))


@dataclass
class Handshake:
    """A valid WebSocket upgrade request, not yet answered."""

    key: str
    subprotocols: list[str] = field(default_factory=list)
    extensions_offered: str = ""
    origin: str | None = None

    def accept(
        self,
        subprotocol: str | None = None,
        *,
        compression: ServerPerMessageDeflateFactory | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[bytes, list[Extension]]:
        """Build the 101 response; return it with the negotiated extensions."""
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key(self.key)}",
        ]
        if subprotocol is not None:
            if subprotocol not in self.subprotocols:
                raise ValueError(f"the client did not offer subprotocol {subprotocol!r}")
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        extensions: list[Extension] = []
        if compression is not None and self.extensions_offered:
            header, extensions = negotiate_extensions(self.extensions_offered, compression)
            if header:
                lines.append(f"Sec-WebSocket-Extensions: {header}")
        for name, value in headers:
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError("header names and values must not contain line breaks")
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), extensions

    def choose_subprotocol(self, supported: Sequence[str]) -> str | None:
        """Pick the first of ``supported`` (the server's preference) the client offered."""
        for candidate in supported:
            if candidate in self.subprotocols:
                return candidate
        return None


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()  # noqa: S324 - RFC 6455
    return base64.b64encode(digest).decode("ascii")


def negotiate_extensions(
    offered: str, compression: ServerPerMessageDeflateFactory
) -> tuple[str, list[Extension]]:
    """Accept the first permessage-deflate offer the server can honour.

    Offers are tried in the client's order, as RFC 7692 section 5 asks; an offer
    with parameters the server cannot accept is skipped, not failed.
    """
    try:
        offers = parse_extension(offered)
    except InvalidHeader as exc:
        raise HandshakeError(400, f"Invalid Sec-WebSocket-Extensions header: {exc}") from exc
    for name, params in offers:
        if name != compression.name:
            continue
        try:
            response_params, extension = compression.process_request_params(params, [])
        except NegotiationError:
            continue
        return build_extension([(name, response_params)]), [extension]
    return "", []


def parse_handshake(environ: Mapping[str, Any]) -> Handshake:
    """Validate an upgrade request (RFC 6455, 4.2.1); raise HandshakeError if invalid."""
    if environ.get("REQUEST_METHOD") != "GET":
        raise HandshakeError(400, "A WebSocket handshake must use the GET method.")
    protocol = environ.get("SERVER_PROTOCOL", "")
    if protocol not in ("HTTP/1.1",):
        raise HandshakeError(400, "A WebSocket handshake needs HTTP/1.1.")
    if not environ.get("HTTP_HOST"):
        raise HandshakeError(400, "Missing Host header.")
    if "upgrade" not in _tokens(environ.get("HTTP_CONNECTION", "")):
        raise HandshakeError(400, "The Connection header must contain 'Upgrade'.")
    version = environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip()
    if version != SUPPORTED_VERSION:
        raise HandshakeError(
            426,
            f"Unsupported WebSocket version {version!r}: this server speaks version 13.",
            [("Sec-WebSocket-Version", SUPPORTED_VERSION)],
        )
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        decoded = b""
    if len(decoded) != 16:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 random bytes in base64.")
    requested = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
    try:
        subprotocols = [str(p) for p in parse_subprotocol(requested)] if requested else []
    except InvalidHeader as exc:
        raise HandshakeError(400, f"Invalid Sec-WebSocket-Protocol header: {exc}") from exc
    return Handshake(
        key=key,
        subprotocols=subprotocols,
        extensions_offered=environ.get("HTTP_SEC_WEBSOCKET_EXTENSIONS", ""),
        origin=environ.get("HTTP_ORIGIN"),
    )
