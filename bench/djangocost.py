"""Django's own work for one request of the handshake scenario, in-process, no server.

Run by ``bench/run.py`` (scenario ``django``) in the djws virtualenv, from
``bench/project``, with the bench's settings (``DJANGO_SETTINGS_MODULE``,
``BENCH_DB``) and pinned to the server core::

    python ../djangocost.py '{"requests": 3000, "rounds": 5, "cookie": "<session key>"}'

It calls Django's ``WSGIHandler`` with the environ of the load client's handshake
request (the same headers, the ``sessionid`` cookie or none) for a plain view that
does what ``/whoami`` does before it writes anything: ``request.user.get_username()``.
So every middleware of ``MIDDLEWARE`` runs, ``request_started`` and
``request_finished`` fire, and with the cookie the session and the user are read
from the database. One database connection serves every request
(``CONN_MAX_AGE = None``): a server reuses its connections too (djws's pool).

The handshake's cost in a server is this plus the server's own work; a server
cannot do more handshakes per second than ``1e6 / (this + bare)`` where *bare*
is the microseconds per handshake of ``bench/raw/bare_server.py``.

Prints one JSON line: microseconds per request (best and median round), the
requests per second of the best round, and the body of the last response.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "project"))

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path


def whoami(request: HttpRequest) -> HttpResponse:
    """What the bench's ``whoami`` view computes before its first message."""
    return HttpResponse(request.user.get_username() or "anonymous")


urlpatterns = [path("whoami", whoami)]


def environ(cookie: str | None) -> dict[str, Any]:
    """The load client's handshake request, as a WSGI server would present it."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/whoami",
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8001",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "HTTP_ORIGIN": "http://127.0.0.1:8001",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if cookie:
        env["HTTP_COOKIE"] = f"sessionid={cookie}"
    return env


def main(cfg: dict[str, Any]) -> dict[str, Any]:
    """Time ``rounds`` rounds of ``requests`` requests after a warm-up round."""
    settings.ROOT_URLCONF = __name__
    for alias in settings.DATABASES:
        settings.DATABASES[alias]["CONN_MAX_AGE"] = None
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def request() -> bytes:
        response = handler(environ(cfg.get("cookie")), start_response)
        try:
            return b"".join(response)
        finally:
            response.close()

    count = cfg.get("requests", 3000)
    for _ in range(min(count, 500)):
        body = request()
    rounds: list[float] = []
    for _ in range(cfg.get("rounds", 5)):
        started = time.perf_counter()
        for _ in range(count):
            body = request()
        rounds.append((time.perf_counter() - started) / count * 1e6)
    best = min(rounds)
    expected = cfg.get("expect_user")
    ok = statuses[-1] == "200 OK" and (expected is None or body == expected.encode())
    return {
        "ok": ok,
        "error": None if ok else f"{statuses[-1]}: {body[:80]!r}",
        "us_per_request": round(best, 1),
        "us_per_request_median": round(statistics.median(rounds), 1),
        "requests_per_s": round(1e6 / best, 1),
        "rounds_us": [round(r, 1) for r in rounds],
        "requests": count,
        "body": body.decode(errors="replace"),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
