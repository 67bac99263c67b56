"""The least a gevent server does for the bench's WebSockets: no WSGI, no HTTP parser.

``python bare_server.py PORT`` serves 127.0.0.1:PORT with gevent's ``StreamServer``:
it reads the request up to the blank line, takes the ``Sec-WebSocket-Key`` by a
byte search, writes the 101, and then handles only what the load client sends
(masked frames, no fragments, no extensions). ``/whoami`` sends ``bare`` first;
every path echoes; a close is answered and the socket closed. Nothing is checked
(method, version, Origin): it is the cost of accepting, reading, writing and
closing a connection under gevent, which any server pays, and the floor that
``raw`` (gevent-websocket under gunicorn) and ``djws`` are measured against.
"""

from __future__ import annotations

import base64
import hashlib
import signal
import struct
import sys
from typing import Any

import gevent
from gevent.server import StreamServer

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CLOSE = 0x8


def frame_header(buffer: bytearray) -> tuple[int, int] | None:
    """(payload length, length of the header before the mask) of the frame that
    starts ``buffer``, or None until its header is all there."""
    if len(buffer) < 2:
        return None
    length = buffer[1] & 0x7F
    if length < 126:
        return length, 2
    if length == 126:
        return (struct.unpack_from("!H", buffer, 2)[0], 4) if len(buffer) >= 4 else None
    return (struct.unpack_from("!Q", buffer, 2)[0], 10) if len(buffer) >= 10 else None


def read_frame(sock: Any, buffer: bytearray) -> tuple[int, bytes] | None:
    """The next client frame (opcode, unmasked payload), or None at EOF."""
    while True:
        header = frame_header(buffer)
        if header is not None and len(buffer) >= header[1] + 4 + header[0]:
            length, offset = header
            end = offset + 4 + length
            masked = bytes(buffer[offset + 4 : end])
            mask = bytes(buffer[offset : offset + 4]) * (length // 4 + 1)
            payload = (int.from_bytes(masked) ^ int.from_bytes(mask[:length])).to_bytes(length)
            opcode = buffer[0] & 0x0F
            del buffer[:end]
            return opcode, payload
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk


def frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + struct.pack("!H", n) + payload
    return bytes((0x80 | opcode, 127)) + struct.pack("!Q", n) + payload


def handle(sock: Any, _address: Any) -> None:
    """One connection: the handshake, then echo until the client closes."""
    buffer = bytearray()
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buffer += chunk
    head = bytes(buffer[:end])
    del buffer[: end + 4]
    start = head.lower().find(b"sec-websocket-key:") + len(b"sec-websocket-key:")
    key = head[start : head.find(b"\r\n", start)].strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    if head.startswith(b"GET /whoami"):
        response += frame(0x1, b"bare")
    sock.sendall(response)
    while (message := read_frame(sock, buffer)) is not None:
        opcode, payload = message
        if opcode == OP_CLOSE:
            sock.sendall(frame(OP_CLOSE, payload[:2]))
            break
        sock.sendall(frame(opcode, payload))
    sock.close()


def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    server = StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=4096)
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, server.stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
