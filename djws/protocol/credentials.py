"""Credentials a client presents in the opening handshake, kept out of every log.

A client without a session cookie (a phone app, a script, a page on another
origin) may present a credential where a browser's ``WebSocket`` lets it write:

* ``Sec-WebSocket-Protocol``, as one of the subprotocols it offers:
  ``djws.ticket.<ticket>`` or ``djws.token.<token>``;
* the query string: ``?djws-ticket=<ticket>`` or ``?djws-token=<token>``.

This module only finds them, without I/O; what they are worth is
:mod:`djws.auth`'s business. :func:`split_subprotocols` takes credential
entries out of the offered subprotocols, so that a view never sees or chooses
one. :func:`redact_request_line` takes them out of the request line as soon as
the server has read it: the query string is in the access log, in error
reports and in ``request.get_full_path()``, which from then on all read
``djws-ticket=[redacted]``. :func:`redact_subprotocols` does the same to the
``Sec-WebSocket-Protocol`` header once the handshake is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

__all__ = [
    "KINDS",
    "REDACTED",
    "TICKET",
    "TOKEN",
    "Credential",
    "redact_request_line",
    "redact_subprotocols",
    "split_subprotocols",
]

#: A djws ticket (:mod:`djws.auth.tickets`), and any other token (DRF's, a JWT).
TICKET = "ticket"
TOKEN = "token"  # noqa: S105 - a kind of credential, not one
KINDS = (TICKET, TOKEN)
#: What a credential is replaced with wherever it could be logged.
REDACTED = "[redacted]"

_PREFIXES = {f"djws.{kind}.": kind for kind in KINDS}
_PARAMS = {f"djws-{kind}": kind for kind in KINDS}
# The request line: method, target, the rest ("HTTP/1.1" and the line ending).
_REQUEST_LINE = re.compile(r"(\S+\s+)(\S+)(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential found in a handshake; its value never shows in a repr."""

    #: :data:`TICKET` or :data:`TOKEN`.
    kind: str
    value: str = field(repr=False)
    #: The ``Sec-WebSocket-Protocol`` entry it came in (``djws.ticket.<ticket>``),
    #: or None if it came in the query string.
    subprotocol: str | None = None

    @property
    def source(self) -> str:
        """Where the client put it: ``"subprotocol"`` or ``"query string"``."""
        return "query string" if self.subprotocol is None else "subprotocol"


def _kind_of(entry: str) -> tuple[str, str] | None:
    """``(kind, value)`` if ``entry`` is a credential subprotocol, else None."""
    if not entry.startswith("djws."):
        return None
    for prefix, kind in _PREFIXES.items():
        if entry.startswith(prefix) and len(entry) > len(prefix):
            return kind, entry[len(prefix) :]
    return None


def split_subprotocols(offered: Sequence[str]) -> tuple[list[str], list[Credential]]:
    """Split the offered subprotocols into the application's and credentials, in order."""
    subprotocols, credentials = [], []
    for entry in offered:
        found = _kind_of(entry)
        if found is None:
            subprotocols.append(entry)
        else:
            credentials.append(Credential(found[0], found[1], entry))
    return subprotocols, credentials


def redact_request_line(line: str) -> tuple[str, list[Credential]]:
    """Take the credentials out of a request line's query string.

    Return the line with each credential's value replaced by ``[redacted]``,
    and the credentials in the order they came. A parameter whose name is
    percent-encoded (``djws%2Dticket``) counts as what it decodes to.
    """
    match = _REQUEST_LINE.fullmatch(line)
    if match is None or "?" not in match.group(2):
        return line, []
    path, _, query = match.group(2).partition("?")
    credentials = []
    parts = query.split("&")
    for n, part in enumerate(parts):
        name, equals, value = part.partition("=")
        kind = _PARAMS.get(unquote_plus(name)) if equals else None
        if kind is not None:
            credentials.append(Credential(kind, unquote_plus(value)))
            parts[n] = f"{name}={REDACTED}"
    if not credentials:
        return line, []
    return f"{match.group(1)}{path}?{'&'.join(parts)}{match.group(3)}", credentials


def redact_subprotocols(value: str) -> str:
    """A ``Sec-WebSocket-Protocol`` header value with credential entries redacted."""
    if "djws." not in value:
        return value
    entries = [entry.strip() for entry in value.split(",")]
    for n, entry in enumerate(entries):
        found = _kind_of(entry)
        if found is not None:
            entries[n] = f"djws.{found[0]}.{REDACTED}"
    return ", ".join(entries)
