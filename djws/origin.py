"""Origin checks: the defence against cross-site WebSocket hijacking.

Browsers attach cookies to a WebSocket handshake whatever page opens it, and the
same-origin policy does not apply to WebSockets. Without a check, any web page a
logged-in user visits could open a socket to your site *as that user*. Browsers
always send ``Origin`` on a WebSocket handshake, so djws refuses (403) a
handshake whose Origin is not allowed.

The rule:

* no ``Origin`` header: allowed. Only non-browser clients omit it, and they can
  send any header they like anyway;
* ``WEBSOCKET_ALLOWED_ORIGINS`` unset (None): allowed if the Origin's host and
  port are the request's own host, *as Django validates it* (``get_host()``:
  ``ALLOWED_HOSTS``, ``USE_X_FORWARDED_HOST``, and with ``DEBUG`` and an empty
  ``ALLOWED_HOSTS`` Django's development default, ``.localhost``, ``127.0.0.1``
  and ``[::1]``), or if its host matches ``ALLOWED_HOSTS`` (with the same
  default). The ``Host`` header is the client's to write: a DNS-rebinding page
  sends ``Host: evil.example`` with ``Origin: http://evil.example``, which
  would be "same host" if the host were not validated here, whether or not the
  project runs ``CommonMiddleware``. A ``"*"`` in ``ALLOWED_HOSTS`` is ignored
  for the origin's host: it says "accept any Host header", not "let any site
  use my users' cookies", so such a project allows only same-host origins
  until it lists them in ``WEBSOCKET_ALLOWED_ORIGINS``;
* otherwise it must match one of the patterns in the list:

  ``"*"``                       any origin (turns the check off);
  ``"https://example.com"``     that scheme, host and port exactly (default ports
                                may be omitted);
  ``"https://*.example.com"``   that scheme and port, any subdomain of example.com;
  ``"example.com"``, ``".example.com"``  host patterns as in ``ALLOWED_HOSTS``
                                (any scheme and port; a leading dot adds subdomains).

The literal Origin ``null`` (sandboxed frames, ``file:`` pages) matches only
``"*"`` or ``"null"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.exceptions import DisallowedHost
from django.http.request import validate_host

from .conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = ["origin_allowed", "origin_matches", "pattern_error"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Django's own default when DEBUG is on and ALLOWED_HOSTS is empty (HttpRequest.get_host).
_DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


def _split(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(scheme)


def pattern_error(pattern: object) -> str | None:
    """Describe what is wrong with an origin pattern, or return None if it is valid."""
    if not isinstance(pattern, str) or not pattern:
        return f"{pattern!r} is not a non-empty string"
    if "://" in pattern:
        try:
            scheme, host, _port = _split(pattern)
        except ValueError as exc:
            return f"{pattern!r}: {exc}"
        if not scheme or not host:
            return f"{pattern!r} needs a scheme and a host, like 'https://example.com'"
        if urlsplit(pattern).path not in ("", "/"):
            return f"{pattern!r}: an origin has no path"
    return None


def origin_matches(origin: str, pattern: str) -> bool:
    """Tell whether ``origin`` (an Origin header value) matches ``pattern``."""
    if pattern == "*" or origin == pattern:
        return True
    if origin == "null":
        return False
    try:
        scheme, host, port = _split(origin)
    except ValueError:
        return False
    if "://" not in pattern:
        return validate_host(_host_for_validation(host), [pattern])
    p_scheme, p_host, p_port = _split(pattern)
    if (scheme, port) != (p_scheme, p_port):
        return False
    if p_host.startswith("*."):
        return host.endswith(p_host[1:])
    return host == p_host


def origin_allowed(request: HttpRequest, allowed: Sequence[str] | None = None) -> bool:
    """Tell whether the request's Origin may open a WebSocket (see module doc)."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return True
    patterns = allowed if allowed is not None else settings.WEBSOCKET_ALLOWED_ORIGINS
    if patterns is not None:
        return any(origin_matches(origin, pattern) for pattern in patterns)
    if origin == "null":
        return False
    try:
        _scheme, host, port = _split(origin)
    except ValueError:
        return False
    request_host = _validated_host(request)
    if request_host is not None and (
        urlsplit(origin).netloc.lower() == request_host
        or (port is not None and f"{host}:{port}" == request_host)
    ):
        return True
    allowed_hosts = [pattern for pattern in django_settings.ALLOWED_HOSTS if pattern != "*"]
    if django_settings.DEBUG and not django_settings.ALLOWED_HOSTS:
        allowed_hosts = _DEBUG_HOSTS
    return validate_host(_host_for_validation(host), allowed_hosts)


def _validated_host(request: HttpRequest) -> str | None:
    """The request's host, lowercased, if Django accepts it; None if ALLOWED_HOSTS does not."""
    try:
        return request.get_host().lower()
    except DisallowedHost:
        return None


def _host_for_validation(host: str) -> str:
    """Put brackets back around an IPv6 address, as ALLOWED_HOSTS writes them."""
    return f"[{host}]" if ":" in host else host
