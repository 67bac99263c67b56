"""``manage.py runwebsocket``: serve the project's WebSocket views.

It *is* ``runserver`` -- a subclass, so the address syntax, IPv6, the checks,
the migrations warning, the bind errors and the autoreloader are Django's own
-- except that it never serves from its own process: ``manage.py`` imported
Django before gevent could patch it. Where ``runserver`` would start its WSGI
server, it binds the port (so a busy port is Django's one-line error) and then

* with ``--noreload`` (or ``DEBUG = False``): replaces itself with
  ``python -m djws.server.bootstrap``, which patches gevent first and runs
  gunicorn on the inherited socket;
* otherwise: runs Django's autoreloader in this unpatched process and the
  server as a child, restarted when code changes. The outermost process binds
  the port once, so every restarted server inherits the same socket: the port
  (even port 0) survives reloads and clients queue in its backlog meanwhile.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from typing import Any

import django
from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.core.management.commands.runserver import Command as RunserverCommand
from django.utils import autoreload

import djws
from djws.conf import WORKERS_ENV

LISTEN_FD_ENV = "DJWS_LISTEN_FD"
LOG_LEVELS = {0: "error", 1: "warning", 2: "info", 3: "debug"}
#: The listen queue where the kernel's cap cannot be read: Linux's own since 5.4.
#: gunicorn's 2048 overflowed in a reconnect storm of 10,000 (SYN cookies, resets,
#: seconds of retries); by default the queue is as long as the kernel allows.
BACKLOG = 4096
SOMAXCONN = "/proc/sys/net/core/somaxconn"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the server if this supervisor dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


class Listener:
    """What ``runserver`` takes for its WSGI server: a listening socket that starts djws.

    Django's ``run()`` builds it (binding, or adopting the socket the outermost
    autoreloader process bound), reports the port through ``on_bind``, and
    calls :meth:`serve_forever`, which hands the socket to the real server.
    """

    command: Command
    options: dict[str, Any]

    def __init__(self, server_address: tuple[str, int], handler: Any, ipv6: bool = False) -> None:
        inherited = os.environ.get(LISTEN_FD_ENV)
        self.socket = (
            socket.socket(fileno=int(inherited))
            if inherited
            else bind(server_address, ipv6, self.options["backlog"])
        )
        self.server_port: int = self.socket.getsockname()[1]

    def set_app(self, application: Any) -> None:
        """Nothing to set: the server process loads the application itself, patched."""

    def serve_forever(self) -> None:
        """Start the server on this socket: exec it, or supervise it under the reloader."""
        self.command.start(self.socket, self.options)


def bind(address: tuple[str, int], ipv6: bool, backlog: int) -> socket.socket:
    """Create the listening socket the server inherits; OSError as ``runserver`` reports it."""
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listen_queue_cap() -> int | None:
    """The most connections Linux queues on a listening socket (None elsewhere)."""
    try:
        with open(SOMAXCONN) as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


def metrics_address(value: str) -> str:
    """``--metrics``: a path, or ``host:port`` (``PORT`` and ``:PORT`` mean 127.0.0.1)."""
    if value.startswith("/"):
        return value
    host, _, port = value.rpartition(":")
    if (
        not port.isdigit()
        or not 0 < int(port) < 65536
        or (host.count(":") and not (host.startswith("[") and host.endswith("]")))
    ):
        raise CommandError(
            f"--metrics {value!r}: give an address of their own, such as 127.0.0.1:9108 "
            "or 9108, or a path of the WebSocket port, such as /metrics."
        )
    return f"{host or '127.0.0.1'}:{port}"


class Command(RunserverCommand):
    help = (
        "Starts the djws WebSocket server (gunicorn + gevent) for the views in "
        "WEBSOCKET_URLCONF; with --http, serves the rest of the site on the same port."
    )
    suppressed_base_arguments = {"--traceback"}
    default_port = "8001"
    protocol = "ws"
    server_cls_module = "djws.server.bootstrap"
    #: The function that builds the WSGI application each worker serves.
    application = "djws.wsgi.get_wsgi_websocket_application"
    # Set by runserver's handle() (Django's stubs do not declare them).
    addr: str
    port: str
    use_ipv6: bool
    _raw_ipv6: bool

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        for action in parser._actions:
            if action.dest == "addrport":
                action.help = (
                    "Optional port number, or ipaddr:port (default 127.0.0.1:8001, or "
                    "0.0.0.0:$PORT when the PORT environment variable is set)."
                )
            elif action.dest == "use_threading":
                action.help = argparse.SUPPRESS  # greenlets, not threads
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
            "--backlog",
            type=int,
            help="Connections the kernel queues before they are accepted (default: as many "
            f"as it allows, net.core.somaxconn, else {BACKLOG}). Raise net.core.somaxconn "
            "for reconnection storms.",
        )
        parser.add_argument(
            "--metrics",
            metavar="ADDRESS",
            help="Serve Prometheus metrics on an address of their own, [HOST:]PORT (host "
            "127.0.0.1 unless given), or, given a path such as /metrics, at that path of the "
            "WebSocket port (needs prometheus_client: pip install 'djws[metrics]').",
        )
        parser.add_argument(
            "--graceful-timeout",
            type=int,
            default=10,
            help="Seconds views get to finish after a 1001 close at shutdown (default 10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        addrport = options["addrport"]
        port = os.environ.get("PORT")
        if not addrport and port:
            if not port.isdigit():
                raise CommandError(f"The PORT environment variable {port!r} is not a number.")
            addrport = options["addrport"] = f"[::]:{port}" if options["use_ipv6"] else f"0:{port}"
        given_port = (addrport or "").rpartition(":")[2]
        if given_port.isdigit() and int(given_port) > 65535:
            raise CommandError(f"{given_port!r} is not a valid port number.")
        if options["backlog"] is None:
            options["backlog"] = listen_queue_cap() or BACKLOG
        for name in ("workers", "connections", "backlog"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        if bool(options["certfile"]) != bool(options["keyfile"]):
            raise CommandError("--certfile and --keyfile go together: give both or neither.")
        for name in ("certfile", "keyfile"):
            if options[name] and not os.path.isfile(options[name]):
                raise CommandError(f"--{name} {options[name]!r} does not exist.")
        if options["metrics"]:
            options["metrics"] = metrics_address(options["metrics"])
            try:
                import prometheus_client  # noqa: F401
            except ImportError:
                raise CommandError(
                    "--metrics needs prometheus_client: pip install 'djws[metrics]'."
                ) from None
        os.environ[WORKERS_ENV] = str(options["workers"])
        # SIGTERM ends this supervisor through SystemExit, so atexit stops the server.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        if self.protocol == "ws" and options["certfile"]:
            self.protocol = "wss"
        super().handle(*args, **options)

    def run(self, **options: Any) -> None:
        """Serve, with the autoreloader only when DEBUG is on."""
        options["use_threading"] = False
        options["use_reloader"] = options["use_reloader"] and settings.DEBUG
        if options["use_reloader"] and os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) != "true":
            # The outermost process: bind once for every server the reloader starts.
            # If that fails, the child binds and reports the error as runserver does.
            with contextlib.suppress(OSError):
                listener = bind((self.addr, int(self.port)), self.use_ipv6, options["backlog"])
                os.environ[LISTEN_FD_ENV] = str(listener.fileno())
                self._listener = listener  # kept open for the children
        super().run(**options)

    def inner_run(self, *args: Any, **options: Any) -> None:
        """Run runserver's checks, then serve through :class:`Listener`."""
        self.serving_options = options
        backlog, cap = options["backlog"], listen_queue_cap()
        if cap is not None and backlog > cap:
            self.stderr.write(
                f"--backlog {backlog} is above net.core.somaxconn ({cap}): the kernel queues "
                f"{cap} connections, and a reconnection storm larger than that is delayed "
                f"and reset. To queue {backlog}: sysctl -w net.core.somaxconn={backlog}",
                self.style.WARNING,
            )
        self.server_cls = type("Listener", (Listener,), {"command": self, "options": options})
        super().inner_run(*args, **options)

    def get_handler(self, *args: Any, **options: Any) -> Any:
        """Load no application here: this process is not patched; the server loads it."""
        return None

    def on_bind(self, server_port: int) -> None:
        """Print the banner: versions, settings and the address."""
        addr = self.addr
        if self._raw_ipv6:
            addr = f"[{addr}]"
        elif addr == "0":
            addr = "0.0.0.0"  # noqa: S104 - the address it means, as runserver prints it
        scheme = self.protocol
        self.stdout.write(datetime.now().strftime("%B %d, %Y - %X"))
        self.stdout.write(
            f"Django version {django.get_version()}, djws {djws.__version__}, "
            f"using settings {settings.SETTINGS_MODULE!r}"
        )
        url = f"{scheme}://{addr}:{server_port}/"
        if self.serving_options["http"]:
            http_url = f"{'https' if scheme == 'wss' else 'http'}://{addr}:{server_port}/"
            self.stdout.write(f"Starting djws server at {http_url} (WebSocket: {url})")
        else:
            self.stdout.write(f"Starting djws WebSocket server at {url}")
        self.stdout.write("Quit the server with CONTROL-C.\n")

    # The server process

    def start(self, listener: socket.socket, options: dict[str, Any]) -> None:
        """Exec the server on ``listener``, or run it as a child under the reloader."""
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
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, env)  # noqa: S606 - replace this process

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
            "metrics": options["metrics"],
            "sys_path": [p for p in sys.path if p],
            "application": self.application,
        }

    def python_path(self) -> list[str]:
        """PYTHONPATH for the server: djws itself must be importable before sys.path is set."""
        here = os.path.dirname(os.path.dirname(os.path.abspath(djws.__file__)))
        extra = os.environ.get("PYTHONPATH", "")
        return [here, *(p for p in extra.split(os.pathsep) if p)]

    def run_supervised(self, argv: list[str], env: dict[str, str], listener: socket.socket) -> None:
        """Run the server as a child; the autoreloader stops it when code changes.

        If it stops because it was told to (SIGINT, SIGTERM: status 0 or the
        signal), this process exits too, and so does the outermost one: a
        Ctrl-C, or a SIGINT to the process group of a background job (where the
        shell makes ``manage.py`` ignore SIGINT), stops everything and frees the
        port. Any other exit is a crash: wait for a code change to restart.
        """
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv, env=env, pass_fds=[listener.fileno()], preexec_fn=_die_with_parent
        )
        atexit.register(self.stop_child, child)
        code = child.wait()
        if code in (0, -signal.SIGTERM, -signal.SIGINT) and not self.stopping_child:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        self.stderr.write(
            f"The server exited with status {code}; waiting for a code change to restart it."
        )

    #: Set when this process stops the child itself (a reload, or its own exit).
    stopping_child = False

    def stop_child(self, child: subprocess.Popen[bytes]) -> None:
        """Stop the server child (it sends 1001 to its clients) and wait for it."""
        self.stopping_child = True
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
