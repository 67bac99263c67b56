"""What client and server agree on in the handshake: subprotocol and compression.

* Subprotocol (RFC 6455, 4.2.2): the view lists what it speaks in order of
  preference (``@websocket(subprotocols=["chat.v2", "chat.v1"])``); the first of
  those the client offered is chosen, echoed in ``Sec-WebSocket-Protocol`` and
  available as ``ws.subprotocol``. No match: no header (the client decides
  whether to go on), and ``ws.subprotocol`` is None.
* permessage-deflate (RFC 7692): negotiated whenever a client offers it, with
  the server's window bounded by ``WEBSOCKET_COMPRESSION_WINDOW_BITS`` (12),
  unless ``WEBSOCKET_COMPRESSION`` or the view's ``compression=False`` says no.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from .support import RawClient, Server, client_frame, run_server


def test_server_preference_wins_among_offered_subprotocols(server: Server) -> None:
    with connect(f"{server.url}/subprotocol/", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(timeout=10) == "chat.v2"


def test_the_only_common_subprotocol_is_chosen(server: Server) -> None:
    with connect(f"{server.url}/subprotocol/", subprotocols=["other", "chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
        assert ws.recv(timeout=10) == "chat.v1"


def test_no_common_subprotocol_sends_no_header(server: Server) -> None:
    with RawClient(server, "/subprotocol/", Sec_WebSocket_Protocol="graphql-ws, mqtt") as client:
        assert "Sec-WebSocket-Protocol" not in client.response
        assert client.recv_message() == "none"


def test_subprotocol_header_is_echoed_exactly(server: Server) -> None:
    with RawClient(server, "/subprotocol/", Sec_WebSocket_Protocol="chat.v1") as client:
        assert "\r\nSec-WebSocket-Protocol: chat.v1" in client.response
        assert client.recv_message() == "chat.v1"


def test_view_without_subprotocols_ignores_an_offer(server: Server) -> None:
    with RawClient(server, "/echo/", Sec_WebSocket_Protocol="chat.v1") as client:
        assert "Sec-WebSocket-Protocol" not in client.response


def test_compression_is_negotiated_with_a_bounded_window(server: Server) -> None:
    with RawClient(
        server, "/echo/", Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits"
    ) as client:
        assert (
            "\r\nSec-WebSocket-Extensions: permessage-deflate; "
            "server_max_window_bits=12; client_max_window_bits=12" in client.response
        )


def test_compressed_messages_are_echoed_compressed(server: Server) -> None:
    text = "compress me " * 200
    with RawClient(server, "/echo/", Sec_WebSocket_Extensions="permessage-deflate") as client:
        compressor = zlib.compressobj(wbits=-15)
        data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
        client.send(client_frame(0x1, data[:-4], rsv=0b100))
        frame = client.recv_frame()
        assert frame[0] == 0xC1  # FIN, RSV1 (compressed), text
        payload = frame[2:] if frame[1] < 126 else frame[4:]
        assert len(payload) < len(text) // 10
        inflated = zlib.decompressobj(wbits=-12).decompress(payload + b"\x00\x00\xff\xff")
        assert inflated.decode() == text


def test_websockets_client_round_trip_with_compression(server: Server) -> None:
    with connect(f"{server.url}/echo/") as ws:  # offers permessage-deflate by default
        assert [ext.name for ext in ws.protocol.extensions] == ["permessage-deflate"]
        for size in (0, 1, 125, 126, 65535, 65536, 300_000):
            message = ("é" * size)[:size]
            ws.send(message)
            assert ws.recv(timeout=10) == message
            ws.send(message.encode())
            assert ws.recv(timeout=10) == message.encode()


def test_view_can_turn_compression_off(server: Server) -> None:
    with RawClient(
        server, "/protocol/echo-uncompressed/", Sec_WebSocket_Extensions="permessage-deflate"
    ) as client:
        assert "Sec-WebSocket-Extensions" not in client.response
        client.send_frame(0x1, b"plain")
        assert client.recv_raw_frame() == b"\x81\x05plain"


def test_unknown_extensions_are_declined(server: Server) -> None:
    with RawClient(server, "/echo/", Sec_WebSocket_Extensions="x-webkit-deflate-frame") as client:
        assert "Sec-WebSocket-Extensions" not in client.response


@pytest.fixture(scope="module")
def no_compression() -> Iterator[Server]:
    with run_server(env={"WEBSOCKET_COMPRESSION": "0"}) as server:
        yield server


def test_setting_turns_compression_off(no_compression: Server) -> None:
    with connect(f"{no_compression.url}/echo/") as ws:
        assert ws.protocol.extensions == []
        ws.send("still works")
        assert ws.recv(timeout=10) == "still works"
