"""The raw-socket WebSocket client of the protocol tests, and the one client frame encoder.

:class:`RawClient` writes exactly the bytes a test asks for -- including frames
no library would send -- and reads the server's frames one by one, so a test
can assert a close frame's bytes. :func:`client_frame` builds any client frame
(the parser's unit tests feed its output directly); :func:`close_frame` is the
exact bytes of a server's close frame.
"""

from __future__ import annotations

import socket
import struct

from .servers import Server, upgrade_request

__all__ = ["MASK", "RawClient", "client_frame", "close_frame", "mask_payload"]

MASK = b"\x37\xfa\x21\x3d"


def mask_payload(payload: bytes, mask: bytes = MASK) -> bytes:
    """Mask (or unmask) ``payload`` with ``mask`` as RFC 6455, 5.3 says."""
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length: int | None = None,
) -> bytes:
    """One client frame; ``length`` overrides the length field (for lies)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + MASK + mask_payload(payload)
    return head + payload


def close_frame(code: int | None = None, reason: str = "") -> bytes:
    """The exact bytes of an unmasked (server) close frame."""
    payload = b"" if code is None else struct.pack("!H", code) + reason.encode()
    return bytes([0x88, len(payload)]) + payload


class RawClient:
    """A WebSocket client on a plain socket that sends whatever it is told to."""

    def __init__(
        self,
        server: Server,
        path: str = "/echo/",
        *,
        timeout: float = 10.0,
        answer_pings: bool = True,
        extra: str = "",
        **headers: str,
    ) -> None:
        address = (server.host.strip("[]"), server.port)
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.sendall(upgrade_request(path, extra=extra, **headers))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, f"server closed during the handshake: {data!r}"
            data += chunk
        head, self.buffer = data.split(b"\r\n\r\n", 1)
        self.response = head.decode("latin-1")
        assert self.response.startswith("HTTP/1.1 101 "), self.response
        self.answer_pings = answer_pings

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", **kwargs: object) -> None:
        """Write one client frame (see :func:`client_frame`)."""
        self.sock.sendall(client_frame(opcode, payload, **kwargs))  # type: ignore[arg-type]

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(f"connection closed with {self.buffer!r} buffered")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_raw_frame(self) -> bytes:
        """Return the next frame's exact bytes (pings included)."""
        head = self._read(2)
        length = head[1] & 0x7F
        extra = b""
        if length == 126:
            extra = self._read(2)
            length = struct.unpack("!H", extra)[0]
        elif length == 127:
            extra = self._read(8)
            length = struct.unpack("!Q", extra)[0]
        assert not head[1] & 0x80, "a server frame must not be masked"
        return head + extra + self._read(length)

    def recv_frame(self) -> bytes:
        """Return the next frame that is not a ping (pings are answered if asked to)."""
        while True:
            frame = self.recv_raw_frame()
            if frame[0] & 0x0F != 0x9:
                return frame
            if self.answer_pings:
                payload = frame[2:]
                self.send_frame(0xA, payload)

    def recv_message(self) -> str | bytes:
        """Return the payload of the next (unfragmented, uncompressed) message."""
        frame = self.recv_frame()
        opcode = frame[0] & 0x0F
        assert opcode in (1, 2), f"expected a message, got {frame[:140]!r}"
        payload = _payload(frame)
        return payload.decode() if opcode == 1 else payload

    def expect_close(self, code: int | None, reason: str = "", *, answer: bool = False) -> None:
        """Assert the next frame is exactly this close frame, then that TCP closes.

        ``answer``: complete the closing handshake the server started, as a
        client must (otherwise the server waits ``WEBSOCKET_CLOSE_TIMEOUT``).
        A server that *fails* the connection closes TCP without waiting.
        """
        assert self.recv_frame() == close_frame(code, reason)
        if answer:
            payload = b"" if code is None else code.to_bytes(2, "big")
            self.send_frame(0x8, payload)
        self.expect_eof()

    def expect_eof(self, timeout: float = 10.0) -> None:
        """Assert the server closes the TCP connection (after it sent its close frame)."""
        self.sock.settimeout(timeout)
        try:
            rest = self.buffer + self.sock.recv(65536)
        except ConnectionResetError:
            return
        assert rest == b"", f"expected end of stream, got {rest[:100]!r}"

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def reset(self) -> None:
        """Abort the TCP connection with a reset (RST), as a crashed client would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _payload(frame: bytes) -> bytes:
    length = frame[1] & 0x7F
    return frame[2 + {126: 2, 127: 8}.get(length, 0) :]
