"""``manage.py runwebsocket``: serve the project's WebSocket views.

It feels like ``runserver`` -- same address syntax, checks, banner and
autoreloader -- but never serves from its own process: ``manage.py`` imported
Django before gevent could patch it. It binds the port here (so a busy port is a
one-line error), then

* with ``--noreload`` (or ``DEBUG = False``): replaces itself with
  ``python -m djws.server.bootstrap``, which patches gevent first and runs gunicorn on
  the inherited socket;
* otherwise: runs Django's autoreloader in this unpatched process and the
  server as a child, restarted when code changes.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
from datetime import datetime
from typing import Any

import django
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.commands.runserver import naiveip_re
from django.utils import autoreload

import djws

LISTEN_FD_ENV = "DJWS_LISTEN_FD"
LOG_LEVELS = {0: "error", 1: "warning", 2: "info", 3: "debug"}
BIND_ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the server if this supervisor dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


class Command(BaseCommand):
    help = (
        "Starts the djws WebSocket server (gunicorn + gevent) for the views in "
        "WEBSOCKET_URLCONF; with --http, serves the rest of the site on the same port."
    )
    requires_system_checks: list[str] = []
    suppressed_base_arguments = {"--traceback"}
    default_addr = "127.0.0.1"
    default_addr_ipv6 = "::1"
    default_port = "8001"
    server_cls_module = "djws.server.bootstrap"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "addrport",
            nargs="?",
            help="Optional port number, or ipaddr:port (default 127.0.0.1:8001, or "
            "0.0.0.0:$PORT when the PORT environment variable is set).",
        )
        parser.add_argument(
            "--ipv6", "-6", action="store_true", dest="use_ipv6", help="Use an IPv6 address."
        )
        parser.add_argument(
            "--noreload",
            action="store_false",
            dest="use_reloader",
            help="Do not use the auto-reloader (it is used only when DEBUG is True).",
        )
        parser.add_argument(
            "--workers", type=int, default=1, help="Number of worker processes (default 1)."
        )
        parser.add_argument(
            "--connections",
            type=int,
            default=10000,
            help="Most simultaneous connections per worker (default 10000).",
        )
        parser.add_argument(
            "--http",
            action="store_true",
            help="Serve plain HTTP requests too, with WSGI_APPLICATION: one port for the "
            "whole site (Procfile platforms).",
        )
        parser.add_argument(
            "--nostatic",
            action="store_false",
            dest="use_static_handler",
            help="With --http and DEBUG, do not serve static files.",
        )
        parser.add_argument("--certfile", help="TLS certificate file: serve wss:// (and https://).")
        parser.add_argument("--keyfile", help="TLS private key file for --certfile.")
        parser.add_argument(
            "--access-log",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Log every request to stderr (default: when DEBUG is True).",
        )
        parser.add_argument(
            "--graceful-timeout",
            type=int,
            default=10,
            help="Seconds views get to finish after a 1001 close at shutdown (default 10).",
        )
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not settings.ALLOWED_HOSTS:
            raise CommandError("You must set settings.ALLOWED_HOSTS if DEBUG is False.")
        self.use_ipv6 = options["use_ipv6"]
        if self.use_ipv6 and not socket.has_ipv6:
            raise CommandError("Your Python does not support IPv6.")
        self.addr, self.port = self.parse_addrport(options["addrport"])
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        # For the checks (djws.checks.check_broadcast: memory:// needs one worker),
        # also in the autoreloader's child, which inherits the environment.
        os.environ["DJWS_RUNWEBSOCKET_WORKERS"] = str(options["workers"])
        if options["connections"] < 1:
            raise CommandError("--connections must be at least 1.")
        if bool(options["certfile"]) != bool(options["keyfile"]):
            raise CommandError("--certfile and --keyfile go together: give both or neither.")
        for name in ("certfile", "keyfile"):
            if options[name] and not os.path.isfile(options[name]):
                raise CommandError(f"--{name} {options[name]!r} does not exist.")
        # SIGTERM ends this supervisor through SystemExit, so atexit stops the server.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        if options["use_reloader"] and settings.DEBUG:
            if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) != "true":
                # Bind once, in the outermost process: every restarted server
                # inherits the same socket, so the port (even port 0) survives
                # reloads and clients queue in its backlog meanwhile.
                self.listener = self.bind()
                os.environ[LISTEN_FD_ENV] = str(self.listener.fileno())
            autoreload.run_with_reloader(self.inner_run, **options)
        else:
            self.inner_run(None, **options)

    def parse_addrport(self, addrport: str | None) -> tuple[str, str]:
        """Split ``addrport`` like runserver does; honour ``$PORT`` when it is absent."""
        if not addrport:
            if os.environ.get("PORT"):
                addr, port = ("::" if self.use_ipv6 else "0.0.0.0"), os.environ["PORT"]  # noqa: S104
                if not port.isdigit():
                    raise CommandError(f"The PORT environment variable {port!r} is not a number.")
                return addr, port
            return (
                self.default_addr_ipv6 if self.use_ipv6 else self.default_addr
            ), self.default_port
        m = re.match(naiveip_re, addrport)
        if m is None:
            raise CommandError(
                f"{addrport!r} is not a valid port number or address:port pair "
                "(examples: 8001, 0.0.0.0:8001, [::1]:8001)."
            )
        addr, _ipv4, ipv6, fqdn, port = m.groups()
        if not port.isdigit() or int(port) > 65535:
            raise CommandError(f"{port!r} is not a valid port number.")
        if addr:
            if ipv6:
                addr = addr[1:-1]
                self.use_ipv6 = True
            elif self.use_ipv6 and not fqdn:
                raise CommandError(f"{addr!r} is not a valid IPv6 address.")
        else:
            addr = self.default_addr_ipv6 if self.use_ipv6 else self.default_addr
        return addr, port

    def inner_run(self, *args: Any, **options: Any) -> None:
        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        inherited = os.environ.get(LISTEN_FD_ENV)
        listener = socket.socket(fileno=int(inherited)) if inherited else self.bind()
        self.print_banner(listener, options)
        argv = [
            sys.executable,
            "-m",
            self.server_cls_module,
            json.dumps(self.server_config(listener, options)),
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(self.python_path())}
        env.pop(LISTEN_FD_ENV, None)
        if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true":
            self.run_supervised(argv, env, listener)
        else:
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, argv, env)  # noqa: S606 - replace this process

    def bind(self) -> socket.socket:
        """Create the listening socket the server inherits."""
        family = socket.AF_INET6 if self.use_ipv6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.addr, int(self.port)))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            message = BIND_ERRORS.get(exc.errno, exc.strerror or str(exc))
            self.fail(f"{message} ({self.display_addr()}:{self.port})")
        sock.set_inheritable(True)
        return sock

    def fail(self, message: str) -> None:
        """Report an error in one line and exit 1, also from the reloader's thread."""
        if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true":
            self.stderr.write(f"Error: {message}")
            os._exit(1)
        raise CommandError(message)

    def display_addr(self) -> str:
        return f"[{self.addr}]" if ":" in self.addr else self.addr

    def server_config(self, listener: socket.socket, options: dict[str, Any]) -> dict[str, Any]:
        """The options the bootstrap hands to gunicorn."""
        access_log = options["access_log"]
        if access_log is None:
            access_log = settings.DEBUG
        return {
            "bind": [f"fd://{listener.fileno()}"],
            "workers": options["workers"],
            "worker_connections": options["connections"],
            "graceful_timeout": options["graceful_timeout"],
            "certfile": options["certfile"],
            "keyfile": options["keyfile"],
            "accesslog": "-" if access_log else None,
            "loglevel": LOG_LEVELS.get(options["verbosity"], "info"),
            "http": options["http"],
            "static": options["http"] and options["use_static_handler"] and settings.DEBUG,
            "sys_path": [p for p in sys.path if p],
        }

    def python_path(self) -> list[str]:
        """PYTHONPATH for the server: djws itself must be importable before sys.path is set."""
        here = os.path.dirname(os.path.dirname(os.path.abspath(djws.__file__)))
        extra = os.environ.get("PYTHONPATH", "")
        return [here, *(p for p in extra.split(os.pathsep) if p)]

    def print_banner(self, listener: socket.socket, options: dict[str, Any]) -> None:
        port = listener.getsockname()[1]
        tls = bool(options["certfile"])
        scheme = "wss" if tls else "ws"
        self.stdout.write(datetime.now().strftime("%B %d, %Y - %X"))
        self.stdout.write(
            f"Django version {django.get_version()}, djws {djws.__version__}, "
            f"using settings {settings.SETTINGS_MODULE!r}"
        )
        url = f"{scheme}://{self.display_addr()}:{port}/"
        if options["http"]:
            http_url = f"{'https' if tls else 'http'}://{self.display_addr()}:{port}/"
            self.stdout.write(f"Starting djws server at {http_url} (WebSocket: {url})")
        else:
            self.stdout.write(f"Starting djws WebSocket server at {url}")
        self.stdout.write("Quit the server with CONTROL-C.\n")

    def run_supervised(self, argv: list[str], env: dict[str, str], listener: socket.socket) -> None:
        """Run the server as a child; the autoreloader stops it when code changes."""
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv, env=env, pass_fds=[listener.fileno()], preexec_fn=_die_with_parent
        )
        atexit.register(self.stop_child, child)
        code = child.wait()
        if code not in (0, -signal.SIGTERM, -signal.SIGINT):
            self.stderr.write(
                f"The server exited with status {code}; waiting for a code change to restart it."
            )

    @staticmethod
    def stop_child(child: subprocess.Popen[bytes]) -> None:
        """Stop the server child (it sends 1001 to its clients) and wait for it."""
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
