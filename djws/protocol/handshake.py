"""The opening handshake of RFC 6455, section 4.2, without any I/O.

``parse_handshake(environ)`` validates an upgrade request as the worker received
it and either returns a :class:`Handshake` or raises
:class:`~djws.exceptions.HandshakeError` carrying the HTTP answer: 400 for a
malformed request or header, 405 (with ``Allow: GET``) for another method, 505
for another HTTP version, 426 for an unsupported WebSocket version. Every header
is parsed here, in bounded time, so nothing malformed reaches Django.

``Handshake.accept()`` builds the ``101 Switching Protocols`` response for the
subprotocol and extensions that were chosen. The response is only *built* here;
the connection writes it, and only when the view accepts.

Credentials offered as subprotocols (``djws.ticket.<ticket>``,
:mod:`.credentials`) are kept apart from the application's subprotocols: a view
never sees nor chooses one. When the view chooses no subprotocol, the 101 names
the credential entry the client offered, as it offered it: browsers fail a
handshake (1006, "Sent non-empty 'Sec-WebSocket-Protocol' header but no
response was received" in Chrome) whose offered subprotocols all went
unanswered.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import InvalidHeader, NegotiationError
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.headers import build_extension, parse_extension, parse_subprotocol
from websockets.typing import ExtensionHeader
from websockets.utils import accept_key

from ..exceptions import HandshakeError
from .credentials import Credential, split_subprotocols
from .http import serialize

__all__ = ["Handshake", "deflate_factory", "is_upgrade_request", "parse_handshake"]

SUPPORTED_VERSION = "13"
#: Offers a client may make in one handshake. Browsers send one or two of each;
#: thousands only cost parsing time.
MAX_OFFERS = 64


def _tokens(value: str) -> set[str]:
    """Split a comma-separated header into lower-case tokens."""
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def is_upgrade_request(environ: Mapping[str, Any]) -> bool:
    """Tell whether the client asks for a WebSocket, well-formed or not.

    Only ``Upgrade: websocket`` decides: a request that names it gets WebSocket
    handling (and a 400 if the rest is wrong); anything else is plain HTTP.
    """
    return "websocket" in _tokens(environ.get("HTTP_UPGRADE", ""))


@dataclass(slots=True)
class Handshake:
    """A valid WebSocket upgrade request, not yet answered."""

    key: str
    #: The application's subprotocols the client offered, in its order (no credentials).
    subprotocols: list[str] = field(default_factory=list)
    #: The client's extension offers, parsed: ``[(name, [(param, value), ...]), ...]``.
    extensions: list[ExtensionHeader] = field(default_factory=list)
    origin: str | None = None
    #: Credentials offered as subprotocols, then in the query string, in order.
    credentials: tuple[Credential, ...] = ()

    def credential(self, kind: str) -> Credential | None:
        """The first credential of ``kind`` the client presented, or None."""
        for credential in self.credentials:
            if credential.kind == kind:
                return credential
        return None

    def response_subprotocol(self, chosen: str | None) -> str | None:
        """What the 101 names: ``chosen``, else the first credential subprotocol offered."""
        if chosen is not None:
            if chosen not in self.subprotocols:
                raise ValueError(f"the client did not offer subprotocol {chosen!r}")
            return chosen
        for credential in self.credentials:
            if credential.subprotocol is not None:
                return credential.subprotocol
        return None

    def accept(
        self,
        subprotocol: str | None = None,
        *,
        compression: ServerPerMessageDeflateFactory | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[bytes, list[Extension]]:
        """Build the 101 response; return it with the negotiated extensions."""
        response_headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(self.key)),
        ]
        echoed = self.response_subprotocol(subprotocol)
        if echoed is not None:
            response_headers.append(("Sec-WebSocket-Protocol", echoed))
        extensions: list[Extension] = []
        if compression is not None and self.extensions:
            header, extensions = negotiate_extensions(self.extensions, compression)
            if header:
                response_headers.append(("Sec-WebSocket-Extensions", header))
        for name, value in headers:
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError("header names and values must not contain line breaks")
            response_headers.append((name, value))
        return serialize(101, response_headers), extensions

    def choose_subprotocol(self, supported: Sequence[str]) -> str | None:
        """Pick the first of ``supported`` (the server's preference) the client offered."""
        for candidate in supported:
            if candidate in self.subprotocols:
                return candidate
        return None


def deflate_factory(window_bits: int, memory_level: int) -> ServerPerMessageDeflateFactory:
    """permessage-deflate with this zlib window (9-15) and memory level (1-9) each way.

    The server passes ``WEBSOCKET_COMPRESSION_WINDOW_BITS`` and ``_MEMORY_LEVEL``.
    """
    return ServerPerMessageDeflateFactory(
        server_max_window_bits=window_bits,
        client_max_window_bits=window_bits,
        compress_settings={"memLevel": memory_level},
    )


def negotiate_extensions(
    offers: Sequence[ExtensionHeader], compression: ServerPerMessageDeflateFactory
) -> tuple[str, list[Extension]]:
    """Accept the first permessage-deflate offer the server can honour.

    Offers are tried in the client's order, as RFC 7692 section 5 asks; an offer
    with parameters the server cannot accept is skipped, not failed.
    """
    for name, params in offers:
        if name != compression.name:
            continue
        try:
            response_params, extension = compression.process_request_params(params, [])
        except NegotiationError:
            continue
        return build_extension([(name, response_params)]), [extension]
    return "", []


def _parse_list(environ: Mapping[str, Any], key: str, header: str, parse: Any) -> list[Any]:
    """Parse a comma-separated header of at most MAX_OFFERS items; raise HandshakeError."""
    value = environ.get(key, "")
    if not value:
        return []
    if value.count(",") >= MAX_OFFERS:
        raise HandshakeError(400, f"Too many values in the {header} header (at most {MAX_OFFERS}).")
    try:
        return list(parse(value))
    except InvalidHeader as exc:  # "invalid <header> header: <what, where>"
        message = str(exc)
        raise HandshakeError(400, f"{message[:1].upper()}{message[1:]}.") from exc


def parse_handshake(
    environ: Mapping[str, Any], query_credentials: Sequence[Credential] = ()
) -> Handshake:
    """Validate an upgrade request (RFC 6455, 4.2.1); raise HandshakeError if invalid.

    ``query_credentials``: those the server took out of the request line
    (:func:`.credentials.redact_request_line`).
    """
    if environ.get("REQUEST_METHOD") != "GET":
        raise HandshakeError(
            405, "A WebSocket handshake must use the GET method.", [("Allow", "GET")]
        )
    if environ.get("SERVER_PROTOCOL", "") != "HTTP/1.1":
        raise HandshakeError(505, "A WebSocket handshake needs HTTP/1.1.")
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
    subprotocols = _parse_list(
        environ, "HTTP_SEC_WEBSOCKET_PROTOCOL", "Sec-WebSocket-Protocol", parse_subprotocol
    )
    extensions = _parse_list(
        environ, "HTTP_SEC_WEBSOCKET_EXTENSIONS", "Sec-WebSocket-Extensions", parse_extension
    )
    offered, credentials = split_subprotocols([str(p) for p in subprotocols])
    return Handshake(
        key=key,
        subprotocols=offered,
        extensions=extensions,
        origin=environ.get("HTTP_ORIGIN"),
        credentials=(*credentials, *query_credentials),
    )
