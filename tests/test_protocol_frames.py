"""Hostile and broken clients after the handshake: every one gets the exact close frame.

One server with small limits (64 KiB messages, 256 KiB write buffer) takes the
whole battery. After each case, the same worker process still echoes for a new
client and its memory (RSS, from /proc) is back near where it started.
"""

from __future__ import annotations

import json
import socket
import time
import zlib
from collections.abc import Callable, Iterator

import pytest
from websockets.sync.client import connect

from .support import (
    RawClient,
    Server,
    assert_healthy,
    client_frame,
    close_frame,
    rss_kib,
    run_server,
    wait_for,
    worker_pid,
)

MAX_MESSAGE = 65536
ENV = {
    "WEBSOCKET_MAX_MESSAGE_SIZE": str(MAX_MESSAGE),
    "WEBSOCKET_WRITE_BUFFER_LIMIT": str(256 * 1024),
    "WEBSOCKET_CLOSE_TIMEOUT": "3.0",
}
#: How far the worker's RSS may stay above its level before the battery.
RSS_SLACK_KIB = 8 * 1024

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


@pytest.fixture(scope="module")
def limited() -> Iterator[Server]:
    with run_server(env=ENV) as server:
        yield server


@pytest.fixture(scope="module")
def baseline(limited: Server) -> tuple[int, int]:
    """The worker's PID and its RSS once warmed up by a few connections."""
    for _ in range(3):
        assert_healthy(limited)
    pid = worker_pid(limited)
    return pid, rss_kib(pid)


def stats(server: Server) -> dict[str, int]:
    with connect(f"{server.url}/protocol/stats/", open_timeout=10) as ws:
        return json.loads(ws.recv(timeout=10))


def assert_recovered(server: Server, baseline: tuple[int, int]) -> None:
    """The worker serves a new client; connections and memory are released."""
    pid, rss = baseline
    assert_healthy(server)
    assert worker_pid(server) == pid, "the worker was replaced: it must have crashed"
    wait_for(
        lambda: stats(server)["open"] == 1,
        10,
        lambda: f"the worker closing every other connection (now: {stats(server)})",
    )
    assert rss_kib(pid) < rss + RSS_SLACK_KIB, f"RSS grew from {rss} to {rss_kib(pid)} KiB"


# Each case: what the client does, then the exact close the server must send.

Case = Callable[[RawClient], None]


def unmasked_frame(c: RawClient) -> None:
    c.send_frame(TEXT, b"hello", mask=False)
    c.expect_close(1002, "client frames must be masked")


def rsv1_without_extension(c: RawClient) -> None:
    c.send_frame(TEXT, b"hello", rsv=0b100)
    c.expect_close(1002, "reserved bits set without an extension defining them")


def rsv2_and_rsv3(c: RawClient) -> None:
    c.send_frame(BINARY, b"hello", rsv=0b011)
    c.expect_close(1002, "reserved bits set without an extension defining them")


def reserved_data_opcode(c: RawClient) -> None:
    c.send_frame(0x3, b"hello")
    c.expect_close(1002, "reserved opcode 3")


def reserved_control_opcode(c: RawClient) -> None:
    c.send_frame(0xB, b"hello")
    c.expect_close(1002, "reserved opcode 11")


def fragmented_ping(c: RawClient) -> None:
    c.send_frame(PING, b"part", fin=False)
    c.expect_close(1002, "fragmented control frame")


def oversized_ping(c: RawClient) -> None:
    c.send_frame(PING, b"x" * 126)
    c.expect_close(1002, "control frame payload over 125 bytes")


def continuation_without_message(c: RawClient) -> None:
    c.send_frame(CONT, b"orphan")
    c.expect_close(1002, "continuation frame without a message to continue")


def new_message_inside_fragmented_one(c: RawClient) -> None:
    c.send_frame(TEXT, b"first half", fin=False)
    c.send_frame(TEXT, b"another message")
    c.expect_close(1002, "new message before the previous one was finished")


def invalid_utf8_in_one_frame(c: RawClient) -> None:
    c.send_frame(TEXT, b"caf\xe9 au lait")
    c.expect_close(1007, "invalid UTF-8: invalid continuation byte")


def invalid_utf8_split_across_fragments(c: RawClient) -> None:
    # U+03BA is CE BA: its first byte ends fragment 1, a non-continuation byte starts 2.
    c.send_frame(TEXT, b"ok \xce", fin=False)
    c.send_frame(CONT, b"A rest")
    c.expect_close(1007, "invalid UTF-8: invalid continuation byte")


def invalid_utf8_fails_before_the_frame_ends(c: RawClient) -> None:
    # Header of a 1,000-byte text frame, then 6 bytes of it, the last invalid.
    frame = client_frame(TEXT, b"abcde\xff" + b"a" * 994)
    c.send(frame[: 2 + 2 + 4 + 6])
    c.expect_close(1007, "invalid UTF-8: invalid start byte")


def message_over_the_limit(c: RawClient) -> None:
    c.send_frame(BINARY, b"x" * (MAX_MESSAGE + 1))
    c.expect_close(1009, f"frame of {MAX_MESSAGE + 1} bytes over the limit")


def fragmented_message_over_the_limit(c: RawClient) -> None:
    c.send_frame(BINARY, b"x" * 40000, fin=False)
    c.send_frame(CONT, b"x" * 40000)
    # 80,000 bytes of payload and two 8-byte frame headers.
    c.expect_close(
        1009, "message of 80016 bytes or more over the limit, counting the headers of its 2 frames"
    )


def huge_frame_refused_from_its_header(c: RawClient) -> None:
    # Only the header of a 1 GiB frame: refused before any payload is buffered.
    c.send(client_frame(BINARY, length=1 << 30))
    c.expect_close(1009, f"frame of {1 << 30} bytes over the limit")


def close_with_one_byte_payload(c: RawClient) -> None:
    c.send_frame(CLOSE, b"\x03")
    c.expect_close(1002, "close frame with a one-byte payload")


def close_with_reserved_code(c: RawClient) -> None:
    c.send_frame(CLOSE, (1005).to_bytes(2, "big"))
    c.expect_close(1002, "invalid close code 1005")


def close_with_invalid_utf8_reason(c: RawClient) -> None:
    c.send_frame(CLOSE, (1000).to_bytes(2, "big") + b"\xff")
    c.expect_close(1007, "invalid UTF-8: invalid start byte")


def truncated_frame_then_reset(c: RawClient) -> None:
    c.send(client_frame(TEXT, b"y" * 1000)[:50])
    time.sleep(0.1)
    c.reset()


def handshake_then_reset(c: RawClient) -> None:
    c.reset()


BAD_INPUT: list[Case] = [
    unmasked_frame,
    rsv1_without_extension,
    rsv2_and_rsv3,
    reserved_data_opcode,
    reserved_control_opcode,
    fragmented_ping,
    oversized_ping,
    continuation_without_message,
    new_message_inside_fragmented_one,
    invalid_utf8_in_one_frame,
    invalid_utf8_split_across_fragments,
    invalid_utf8_fails_before_the_frame_ends,
    message_over_the_limit,
    fragmented_message_over_the_limit,
    huge_frame_refused_from_its_header,
    close_with_one_byte_payload,
    close_with_reserved_code,
    close_with_invalid_utf8_reason,
    truncated_frame_then_reset,
    handshake_then_reset,
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=lambda case: case.__name__)
def test_bad_input_gets_exact_close_and_worker_recovers(
    limited: Server, baseline: tuple[int, int], case: Case
) -> None:
    with RawClient(limited) as client:
        case(client)
    assert_recovered(limited, baseline)


# Well-formed but unusual traffic


def test_client_close_code_and_reason_are_echoed(limited: Server) -> None:
    with RawClient(limited) as client:
        client.send_frame(CLOSE, (4321).to_bytes(2, "big") + "au revoir ☺".encode())
        client.expect_close(4321, "au revoir ☺")


def test_empty_client_close_is_answered_with_an_empty_close(limited: Server) -> None:
    with RawClient(limited) as client:
        client.send_frame(CLOSE)
        client.expect_close(None)


def test_ping_is_answered_with_a_pong_carrying_its_payload(limited: Server) -> None:
    with RawClient(limited) as client:
        client.send_frame(PING, b"are you there")
        assert client.recv_raw_frame() == b"\x8a\x0dare you there"


def test_control_frames_may_interleave_with_fragments(limited: Server) -> None:
    with RawClient(limited) as client:
        client.send_frame(TEXT, "κό".encode()[:3], fin=False)
        client.send_frame(PING, b"p")
        client.send_frame(CONT, "κό".encode()[3:] + b"sme")
        assert client.recv_raw_frame() == b"\x8a\x01p"
        assert client.recv_message() == "κόsme"


def test_messages_before_a_violation_are_answered_first(limited: Server) -> None:
    with RawClient(limited) as client:
        client.send(
            client_frame(TEXT, b"first")
            + client_frame(TEXT, b"second")
            + client_frame(TEXT, b"no", mask=False)
            + client_frame(TEXT, b"never")
        )
        assert client.recv_message() == "first"
        assert client.recv_message() == "second"
        client.expect_close(1002, "client frames must be masked")


def test_close_inside_a_fragmented_message_is_honoured(limited: Server) -> None:
    with RawClient(limited) as client:
        client.send_frame(TEXT, b"fragment1", fin=False)
        client.send_frame(CLOSE, (1000).to_bytes(2, "big"))
        client.send_frame(CONT, b"fragment2")
        client.expect_close(1000)


def test_message_at_the_limit_is_accepted(limited: Server) -> None:
    with RawClient(limited) as client:
        client.send_frame(BINARY, b"z" * MAX_MESSAGE)
        assert client.recv_message() == b"z" * MAX_MESSAGE


def test_fragmented_message_at_the_limit_with_its_frame_headers_is_accepted(
    limited: Server,
) -> None:
    """Each frame of a fragmented message weighs its header too: 8 bytes here."""
    with RawClient(limited) as client:
        client.send_frame(BINARY, b"z" * 30000, fin=False)
        client.send_frame(CONT, b"z" * (MAX_MESSAGE - 30000 - 16))
        assert client.recv_message() == b"z" * (MAX_MESSAGE - 16)


def test_decompression_bomb_is_closed_with_1009(limited: Server) -> None:
    with RawClient(limited, Sec_WebSocket_Extensions="permessage-deflate") as client:
        assert "Sec-WebSocket-Extensions: permessage-deflate" in client.response
        compressor = zlib.compressobj(wbits=-15)
        bomb = compressor.compress(b"\0" * (4 * MAX_MESSAGE)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < 1000
        client.send_frame(BINARY, bomb[:-4], rsv=0b100)
        client.expect_close(1009, "message over the limit once decompressed")


def test_slow_reader_is_closed_with_1008_and_never_delays_others(
    limited: Server, baseline: tuple[int, int]
) -> None:
    """/flood/300/ queues 300 x 64 KiB without waiting; this client reads nothing."""
    with RawClient(limited, "/flood/300/") as slow:
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        time.sleep(0.3)
        started = time.monotonic()
        assert_healthy(limited)  # another client is served at once
        assert time.monotonic() - started < 2.0
        frames = 0
        while (frame := slow.recv_frame())[0] == 0x82:
            assert frame == b"\x82\x7f" + (65536).to_bytes(8, "big") + b"x" * 65536
            frames += 1
        assert frame == close_frame(1008, "client too slow: send buffer full")
        assert 0 < frames < 300
        slow.expect_eof()
    assert_recovered(limited, baseline)
