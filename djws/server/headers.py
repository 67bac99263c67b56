"""A request's header block: read within a byte budget, parsed in one pass.

pywsgi parses headers with ``http.client.parse_headers``, which builds an
``email`` message through ``email.feedparser``: about a tenth of the CPU of a
handshake without a cookie. :class:`RequestHeaders` is what pywsgi reads of
that message (its ``MessageClass``), built from the lines directly, and it
refuses what RFC 9112 tells a server to refuse: a line that is not
``name: value`` (``email`` took it as the start of a body and dropped every
header after it), whitespace before the colon, a continuation line before
any header. A folded value (``obs-fold``) is joined with a space.

The environ's keys and values are shared (``share``): they live as long as
the request, a WebSocket's for hours, and most are the same on every connection
(``HTTP_HOST``, ``websocket``, ``13``, the Origin, the User-Agent), so ten
thousand connections hold one copy of each instead of their own (about 800 bytes
each with seven headers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from sys import intern, version_info
from typing import Any

__all__ = [
    "EnvironHeaders",
    "HeaderReader",
    "HeadersTooLarge",
    "InvalidHeaders",
    "RequestHeaders",
    "share",
]

#: The standard library's limits (``http.client``): bytes per line, header lines.
MAX_LINE = 65536
MAX_HEADERS = 100
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_END = (b"\r\n", b"\n", b"")


def _own(text: str) -> str:
    return text


#: One copy of ``text`` for every request that has the same (:func:`sys.intern`),
#: freed with its last reference. CPython 3.12.0 to 3.12.5 never freed an interned
#: string (python/cpython#113993): there, each client's own values (its key, its
#: cookie, any header it makes up) would stay for the life of the worker, so
#: nothing is shared.
share = _own if (3, 12) <= version_info < (3, 12, 6) else intern


class InvalidHeaders(ValueError):  # noqa: N818 - pywsgi answers any ValueError with a 400
    """The header block is malformed."""


class HeadersTooLarge(ValueError):  # noqa: N818 - pywsgi answers any ValueError
    """The request's header block is over ``WEBSOCKET_MAX_HEADER_SIZE``."""


class HeaderReader:
    """Give the header parser lines of ``rfile`` until a byte budget is spent.

    The standard library's limits bound each header line (64 KiB) and their
    number (100), so about 6.5 MB; this bounds their total.
    """

    __slots__ = ("_budget", "_rfile")

    def __init__(self, rfile: Any, budget: int) -> None:
        self._rfile = rfile
        self._budget = budget

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._rfile.readline(limit)
        self._budget -= len(line)
        if self._budget < 0:
            raise HeadersTooLarge("request header block too large")
        return line


class RequestHeaders:
    """The header fields of one request, in order, as pywsgi's ``MessageClass``."""

    __slots__ = ("fields", "status")

    def __init__(self, rfile: Any, *_ignored: Any) -> None:
        #: Problems are raised, never reported here; pywsgi reads this attribute.
        self.status = ""
        #: ``(name, value)`` pairs as received; values stripped, latin-1 decoded.
        self.fields: list[tuple[str, str]] = []
        fields = self.fields
        while True:
            line: bytes = rfile.readline(MAX_LINE + 1)
            if line in _END:
                return
            if len(line) > MAX_LINE:
                raise InvalidHeaders("a header line is longer than 65,536 bytes")
            if line[0] in b" \t":  # obs-fold: the previous value goes on
                if not fields:
                    raise InvalidHeaders("the header block starts with a continuation line")
                last_name, last_value = fields[-1]
                fields[-1] = (last_name, f"{last_value} {line.strip().decode('latin-1')}")
                continue
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise InvalidHeaders(f"malformed header line {line[:60]!r}")
            if len(fields) == MAX_HEADERS:
                raise InvalidHeaders(f"more than {MAX_HEADERS} header lines")
            fields.append((name.decode("ascii"), share(value.strip(b" \t\r\n").decode("latin-1"))))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), else ``default``."""
        name = name.lower()
        for field, value in self.fields:
            if field.lower() == name:
                return value
        return default

    getheader = get

    @property
    def typeheader(self) -> str | None:
        """The Content-Type, as pywsgi asks for it."""
        return self.get("content-type")

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self.fields = [(field, value) for field, value in self.fields if field.lower() != name]

    @property
    def headers(self) -> Iterator[str]:
        """The fields as ``"Name: value\\r\\n"`` lines, as pywsgi's message gives them."""
        for name, value in self.fields:
            yield f"{name}: {value}\r\n"

    def items(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs, for gunicorn's access log."""
        return list(self.fields)

    def environ_items(self) -> Iterator[tuple[str, str]]:
        """The ``HTTP_*`` keys of a WSGI environ, as pywsgi makes them.

        Names with an underscore are dropped (they would pass for their dashed
        twin); Content-Type and Content-Length have keys of their own.
        """
        for name, value in self.fields:
            if "_" in name:
                continue
            key = name.replace("-", "_").upper()
            if key != "CONTENT_TYPE" and key != "CONTENT_LENGTH":
                yield share("HTTP_" + key), value


class EnvironHeaders:
    """The request's headers for gunicorn's access log, read from the WSGI environ.

    Stands in for the parsed headers once the environ is built, so that they
    do not live as long as the WebSocket.
    """

    __slots__ = ("_environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self._environ = environ

    def items(self) -> list[tuple[str, str]]:
        """Return ``(name, value)`` pairs, names as the access log's atoms want them."""
        pairs = [
            (key[5:].replace("_", "-").lower(), value)
            for key, value in self._environ.items()
            if key.startswith("HTTP_")
        ]
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if self._environ.get(key):
                pairs.append((key.replace("_", "-").lower(), self._environ[key]))
        return pairs
