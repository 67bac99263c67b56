"""Measure WebSocket frame codecs: parse and build speed, server side.

Compares, in one process, on the same frames:

* ``djws``: :class:`djws.protocol.parser.Parser` and :func:`djws.protocol.frames.encode_frame`;
* ``websockets``: the sans-I/O ``Protocol`` of the ``websockets`` library (its C
  ``apply_mask``), as djws used before -- ``receive_data`` / ``events_received``,
  ``send_text`` / ``data_to_send``;
* ``wsproto``: ``wsproto.connection.Connection`` (``pip install wsproto``);
* ``gevent-websocket``: ``geventwebsocket.websocket.WebSocket.read_message`` and
  ``send_frame`` over an in-memory stream.

Workload: 64-byte text messages, each in one masked client frame (parse) or one
unmasked server frame (build), as in an echo server. "parse, 1 per call" feeds
one frame per call (one frame per ``recv()``, the usual case at moderate load);
"parse, 100 per call" feeds 100 frames at once (a busy connection). Every codec
is checked to return the right message before it is timed.

Usage::

    python bench/codec.py [--seconds 1.0] [--repeat 3] [--json]

Prints frames per second (best of ``--repeat`` runs of about ``--seconds`` each).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable

from load.frames import OP_TEXT, mask_frame  # bench/load/: this script's directory is on sys.path

MESSAGE = "x" * 64
MASK = b"\x12\x34\x56\x78"


def client_frame(text: str = MESSAGE) -> bytes:
    """One masked, final text frame as a browser would send it."""
    return mask_frame(OP_TEXT, text.encode(), mask=MASK)


FRAME = client_frame()
BATCH = FRAME * 100


# Each factory returns (parse_one, parse_batch, build): callables doing 1, 100, 1 frames.


def djws_codec() -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    from djws.protocol.frames import OP_TEXT, encode_frame
    from djws.protocol.parser import Parser

    parser = Parser(max_message_size=1 << 20)
    assert parser.feed(FRAME) == [MESSAGE]

    def parse_one() -> object:
        return parser.feed(FRAME)

    def parse_batch() -> object:
        return parser.feed(BATCH)

    def build() -> object:
        return encode_frame(OP_TEXT, MESSAGE.encode())

    return parse_one, parse_batch, build


def websockets_codec() -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    from websockets.protocol import OPEN, Protocol, Side

    protocol = Protocol(Side.SERVER, state=OPEN, max_size=1 << 20)
    protocol.receive_data(FRAME)
    (frame,) = protocol.events_received()
    assert frame.data.decode() == MESSAGE

    def parse_one() -> object:
        protocol.receive_data(FRAME)
        return [frame.data.decode() for frame in protocol.events_received()]

    def parse_batch() -> object:
        protocol.receive_data(BATCH)
        return [frame.data.decode() for frame in protocol.events_received()]

    def build() -> object:
        protocol.send_text(MESSAGE.encode())
        return protocol.data_to_send()

    return parse_one, parse_batch, build


def wsproto_codec() -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import TextMessage

    connection = Connection(ConnectionType.SERVER)
    connection.receive_data(FRAME)
    (event,) = connection.events()
    assert event.data == MESSAGE

    def parse_one() -> object:
        connection.receive_data(FRAME)
        return [event.data for event in connection.events()]

    def parse_batch() -> object:
        connection.receive_data(BATCH)
        return [event.data for event in connection.events()]

    def build() -> object:
        return connection.send(TextMessage(data=MESSAGE))

    return parse_one, parse_batch, build


class _Stream(io.RawIOBase):
    """An endless stream repeating one frame, for gevent-websocket's blocking reader."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.buffer = io.BytesIO()

    def read(self, n: int = -1) -> bytes:
        data = self.buffer.read(n)
        if len(data) < n:
            self.buffer = io.BytesIO(self.frame * (1 + n // len(self.frame)))
            data += self.buffer.read(n - len(data))
        return data


def gevent_websocket_codec() -> tuple[
    Callable[[], object], Callable[[], object], Callable[[], object]
]:
    from geventwebsocket.websocket import WebSocket

    class Stream:
        def __init__(self) -> None:
            self.source = _Stream(FRAME)
            self.read = self.source.read
            self.written: list[bytes] = []
            self.write = self.written.append

    stream = Stream()
    ws = WebSocket({}, stream, None)
    assert ws.read_message() == MESSAGE

    def parse_one() -> object:
        return ws.read_message()

    def parse_batch() -> object:
        read = ws.read_message
        return [read() for _ in range(100)]

    def build() -> object:
        stream.written.clear()
        return ws.send_frame(MESSAGE, WebSocket.OPCODE_TEXT)

    return parse_one, parse_batch, build


CODECS = {
    "djws": djws_codec,
    "websockets": websockets_codec,
    "wsproto": wsproto_codec,
    "gevent-websocket": gevent_websocket_codec,
}


def rate(
    function: Callable[[], object], frames_per_call: int, seconds: float, repeat: int
) -> float:
    """Best frames/s of ``repeat`` timed runs of about ``seconds`` each."""
    calls = 1000
    start = time.perf_counter()
    for _ in range(calls):
        function()
    elapsed = time.perf_counter() - start
    calls = max(1000, int(calls * seconds / max(elapsed, 1e-6)))
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        best = max(best, calls * frames_per_call / elapsed)
    return best


def main(argv: list[str]) -> None:
    """Run every codec available and print a table (or JSON)."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seconds", type=float, default=1.0)
    options.add_argument("--repeat", type=int, default=3)
    options.add_argument("--json", action="store_true")
    args = options.parse_args(argv)
    results: dict[str, dict[str, float | str]] = {}
    for name, factory in CODECS.items():
        try:
            parse_one, parse_batch, build = factory()
        except ImportError as exc:
            results[name] = {"error": f"not installed: {exc}"}
            continue
        results[name] = {
            "parse, 1 per call": rate(parse_one, 1, args.seconds, args.repeat),
            "parse, 100 per call": rate(parse_batch, 100, args.seconds, args.repeat),
            "build": rate(build, 1, args.seconds, args.repeat),
        }
    if args.json:
        print(json.dumps({"python": platform.python_version(), "results": results}, indent=2))
        return
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs; 64-byte text frames/s")
    columns = ["parse, 1 per call", "parse, 100 per call", "build"]
    print(f"{'codec':18}" + "".join(f"{c:>22}" for c in columns))
    for name, row in results.items():
        if "error" in row:
            print(f"{name:18}  {row['error']}")
            continue
        print(f"{name:18}" + "".join(f"{row[c]:>22,.0f}" for c in columns))


if __name__ == "__main__":
    main(sys.argv[1:])
