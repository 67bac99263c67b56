"""The hand-off from the HTTP layer to a WebSocket connection.

When a valid upgrade request arrives, the handler (:mod:`.handler`) puts an
:class:`Upgrade` in the WSGI environ and lets Django run. The ``@websocket``
view finds it as ``request.websocket_upgrade`` and, if it accepts,
:meth:`Upgrade.accept` is the one step that turns the HTTP connection into a
WebSocket: it builds the ``101`` for the view's choices (subprotocol,
compression, headers), writes it, and hands over the socket with the bytes the
HTTP parser had already read past the headers. Nothing else crosses over: the
upgrade holds no reference to the handler, so a finished connection leaves no
reference cycle behind, and the handler reads :attr:`Upgrade.response_length`
afterwards for its access log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..conf import ServerSettings
from ..protocol.handshake import Handshake, deflate_factory

if TYPE_CHECKING:
    from websockets.extensions.base import Extension

__all__ = ["Upgrade"]

_READ_AHEAD = 65536


class Upgrade:
    """A valid upgrade request waiting for the view to accept it."""

    __slots__ = (
        "__weakref__",
        "_rfile",
        "_socket",
        "address",
        "config",
        "handshake",
        "response_length",
    )

    def __init__(
        self, handshake: Handshake, sock: Any, rfile: Any, config: ServerSettings, address: str
    ) -> None:
        #: The parsed handshake: key, offered subprotocols and extensions, Origin.
        self.handshake = handshake
        #: The server's settings, read once per worker.
        self.config = config
        #: The client's address (:func:`djws.limits.client_address`).
        self.address = address
        #: Bytes of the 101 written, once committed; None before.
        self.response_length: int | None = None
        self._socket = sock
        self._rfile = rfile

    @property
    def committed(self) -> bool:
        """True once the 101 was written: the connection is a WebSocket now."""
        return self.response_length is not None

    def accept(
        self, subprotocol: str | None, headers: Sequence[tuple[str, str]], compression: bool | None
    ) -> tuple[Any, bytes, Extension | None]:
        """Write the ``101`` for these choices; return what the open connection needs.

        That is the socket, the bytes read past the request's headers, and the
        negotiated permessage-deflate extension (or None). ``compression``
        overrides ``WEBSOCKET_COMPRESSION``. The choices are validated
        (ValueError) before anything is written.
        """
        config = self.config
        compress = config.compression if compression is None else compression
        response, extensions = self.handshake.accept(
            subprotocol,
            compression=(
                deflate_factory(config.compression_window_bits, config.compression_memory_level)
                if compress
                else None
            ),
            headers=headers,
        )
        sock, buffered = self.commit(response)
        return sock, buffered, extensions[0] if extensions else None

    def commit(self, response: bytes) -> tuple[Any, bytes]:
        """Write the 101 ``response``; return the socket and the bytes read past the headers.

        The HTTP parser's buffered reader is closed, which frees its buffer for
        the life of the connection: from here on the socket is read directly.
        """
        sock, rfile = self._socket, self._rfile
        if sock is None:
            raise RuntimeError("this WebSocket was already accepted")
        self._socket = self._rfile = None
        # Not sendall(): gevent's asks the kernel for the send buffer's size first, one
        # more system call per handshake, for a response that fits in any buffer.
        unsent = memoryview(response)
        while unsent:
            unsent = unsent[sock.send(unsent) :]
        self.response_length = len(response)
        sock.settimeout(0.0)
        try:
            buffered = rfile.read1(_READ_AHEAD) or b""
        except (BlockingIOError, OSError):
            buffered = b""
        with contextlib.suppress(OSError):
            rfile.close()
        return sock, buffered
