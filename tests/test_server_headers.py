"""The request header parser (:mod:`djws.server.headers`), against the standard library's.

For well-formed header blocks it must give pywsgi exactly what
``http.client.parse_headers`` gave it (the WSGI environ's ``HTTP_*`` keys, the
content type and length); malformed ones are refused instead of being half read.
A real server's answers are in test_protocol_handshake.py.
"""

from __future__ import annotations

import io
import sys
from http import client

import pytest
from gevent.pywsgi import WSGIHandler, headers_factory
from hypothesis import given
from hypothesis import strategies as st

from djws.server.headers import (
    MAX_HEADERS,
    HeaderReader,
    HeadersTooLarge,
    InvalidHeaders,
    RequestHeaders,
    share,
)

pytestmark = pytest.mark.fast


def parse(block: bytes) -> RequestHeaders:
    return RequestHeaders(io.BytesIO(block))


def pywsgi_environ(message: object) -> dict[str, str]:
    """The header keys pywsgi puts in the environ, read from ``message``."""
    handler = WSGIHandler.__new__(WSGIHandler)
    handler.headers = message
    environ = dict(handler._headers())
    if message.typeheader is not None:  # type: ignore[attr-defined]
        environ["CONTENT_TYPE"] = message.typeheader  # type: ignore[attr-defined]
    if length := message.getheader("content-length"):  # type: ignore[attr-defined]
        environ["CONTENT_LENGTH"] = length
    return environ


def djws_environ(headers: RequestHeaders) -> dict[str, str]:
    environ = dict(headers.environ_items())
    if headers.typeheader is not None:
        environ["CONTENT_TYPE"] = headers.typeheader
    if length := headers.getheader("content-length"):
        environ["CONTENT_LENGTH"] = length
    return environ


BROWSER = (
    b"Host: example.com:8001\r\n"
    b"Connection: Upgrade\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: http://example.com:8000\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"Cookie: csrftoken=abc; sessionid=xyz\r\n"
    b"X_Forwarded_For: 10.0.0.1\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
    b"the first bytes of the WebSocket"
)


def test_a_browser_handshake_gives_the_same_environ_as_the_standard_library() -> None:
    ours = parse(BROWSER)
    theirs = headers_factory(io.BytesIO(BROWSER))
    assert djws_environ(ours) == pywsgi_environ(theirs)
    assert ours.get("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert ours.get("SEC-WEBSOCKET-KEY") == theirs.get("sec-websocket-key")
    assert "HTTP_X_FORWARDED_FOR" not in djws_environ(ours)  # an underscore: dropped


def test_two_requests_with_the_same_headers_share_their_environ_strings() -> None:
    first, second = djws_environ(parse(BROWSER)), djws_environ(parse(BROWSER))
    assert first == second
    if share is sys.intern:  # not on CPython 3.12.0 to 3.12.5, which never freed them
        for (key, value), (other_key, other_value) in zip(
            first.items(), second.items(), strict=True
        ):
            assert key is other_key
            assert value is other_value
    else:
        assert sys.version_info[:2] == (3, 12)


def test_reading_stops_at_the_blank_line() -> None:
    rfile = io.BytesIO(BROWSER)
    parse_from = RequestHeaders(rfile)
    assert len(parse_from.fields) == 11
    assert rfile.read() == b"the first bytes of the WebSocket"


_name = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1)
_value = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20
).map(lambda text: text.replace("\x85", "x").replace("\xa0", "x"))


@given(st.lists(st.tuples(_name, _value), max_size=30))
def test_any_well_formed_block_gives_the_same_environ(fields: list[tuple[str, str]]) -> None:
    block = b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in fields) + b"\r\n"
    assert djws_environ(parse(block)) == pywsgi_environ(headers_factory(io.BytesIO(block)))


def test_repeated_headers_keep_their_order_and_get_gives_the_first() -> None:
    headers = parse(b"Cookie: a=1\r\nX-A: 1\r\ncookie: b=2\r\n\r\n")
    assert headers.get("Cookie") == "a=1"
    assert headers.items() == [("Cookie", "a=1"), ("X-A", "1"), ("cookie", "b=2")]
    assert list(headers.headers) == ["Cookie: a=1\r\n", "X-A: 1\r\n", "cookie: b=2\r\n"]
    del headers["COOKIE"]
    assert headers.items() == [("X-A", "1")]
    assert headers.get("cookie", "none") == "none"


def test_a_folded_value_is_joined_with_a_space() -> None:
    headers = parse(b"X-Long: one\r\n  two\r\n\tthree\r\nHost: h\r\n\r\n")
    assert headers.fields == [("X-Long", "one two three"), ("Host", "h")]


def test_end_of_input_ends_the_block() -> None:
    assert parse(b"Host: h\r\n").fields == [("Host", "h")]
    assert parse(b"").fields == []


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (b"Host h\r\n\r\n", "malformed header line b'Host h\\r\\n'"),
        (b"Host : h\r\n\r\n", "malformed header line b'Host : h\\r\\n'"),
        (b": h\r\n\r\n", "malformed header line b': h\\r\\n'"),
        (b"H\xc3\xa9: v\r\n\r\n", "malformed header line"),
        (b" folded: first\r\n\r\n", "the header block starts with a continuation line"),
        (b"X: " + b"v" * 65536 + b"\r\n\r\n", "a header line is longer than 65,536 bytes"),
        (b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n", "more than 100 header"),
    ],
    ids=[
        "no-colon",
        "space-before-colon",
        "no-name",
        "non-ascii-name",
        "fold-first",
        "long",
        "101",
    ],
)
def test_malformed_blocks_are_refused(block: bytes, message: str) -> None:
    with pytest.raises(InvalidHeaders) as raised:
        parse(block)
    assert isinstance(raised.value, ValueError)  # pywsgi answers it with a 400
    assert message in str(raised.value)


def test_the_standard_librarys_limits_are_kept() -> None:
    assert MAX_HEADERS == client._MAXHEADERS  # type: ignore[attr-defined]
    parse(b"".join(b"X-%d: v\r\n" % n for n in range(MAX_HEADERS)) + b"\r\n")


def test_the_reader_stops_past_its_budget() -> None:
    block = b"X-A: " + b"a" * 50 + b"\r\nX-B: b\r\n\r\n"
    with pytest.raises(HeadersTooLarge):
        RequestHeaders(HeaderReader(io.BytesIO(block), 40))
    assert RequestHeaders(HeaderReader(io.BytesIO(block), len(block))).get("x-b") == "b"
