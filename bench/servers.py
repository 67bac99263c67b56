"""The servers under test: how to set each one up, start it, check it and stop it.

Every server runs on 127.0.0.1 only, one worker process, pinned to the server core,
with its soft open-file limit raised to the hard limit. Each is started in a new
session (process group) so that stopping it reaches its workers too: ``stop()``
signals that group (whose id is the PID of the process this module started), then
waits, then kills what is left.
"""

from __future__ import annotations

import base64
import hashlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENVS = BENCH / ".venvs"
PROJECT = BENCH / "project"
RAW = BENCH / "raw"
#: The Node.js peer: ``npm ci`` installs the ws library here, pinned by package-lock.json.
NODE = BENCH / "node"
TMP = BENCH / "results" / "tmp"
HOST = "127.0.0.1"

# The virtualenvs the benchmark makes for itself, and what goes in each.
ENVS: dict[str, list[str]] = {
    # Redis or PostgreSQL: what the reconnect storm's two workers share.
    "djws": ["-e", f"{REPO}[redis,psycopg]"],
    "raw": ["gevent-websocket==0.10.1", "gunicorn[gevent]>=23", "gevent>=24.10.1"],
    "channels": [
        "Django>=5.2,<6",
        "channels>=4,<5",
        "daphne>=4",
        "uvicorn>=0.30",
        "websockets>=14",
    ],
    "plot": ["matplotlib>=3.8"],
}


def venv_bin(env: str, name: str) -> str:
    """Return the path of executable ``name`` in bench venv ``env``."""
    return str(VENVS / env / "bin" / name)


def log(message: str) -> None:
    """Write a progress line to stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Target:
    """One server under test.

    ``variants`` maps a result name to the echo path it serves (Channels has an
    async and a sync echo consumer; the others one echo view). ``only`` names the
    scenarios a server serves (None: all of them) and ``na`` why not the others.
    """

    name: str
    label: str
    venv: str
    settings: str | None
    command: Callable[[int], list[str]]
    cwd: Path
    variants: dict[str, str] = field(default_factory=dict)
    only: frozenset[str] | None = None
    na: str = ""

    @property
    def django(self) -> bool:
        """Whether this server runs the bench Django project (and has users)."""
        return self.settings is not None


def _djws_command(port: int, workers: int = 1) -> list[str]:
    return [
        venv_bin("djws", "python"),
        "manage.py",
        "runwebsocket",
        "--noreload",
        "--workers",
        str(workers),
        "--connections",
        "20000",
        "--skip-checks",
        f"{HOST}:{port}",
    ]


#: Workers of djws in the reconnect storm: the issue's "2 workers on 2 cores".
STORM_WORKERS = 2


def djws_storm_command(backlog: int | None = None) -> Callable[[int], list[str]]:
    """djws for the reconnect storm: two workers (sharing Redis), not pinned; with
    ``backlog``, that listen queue instead of runwebsocket's default."""

    def command(port: int) -> list[str]:
        argv = _djws_command(port, workers=STORM_WORKERS)
        return argv if backlog is None else [*argv[:-1], "--backlog", str(backlog), argv[-1]]

    return command


def _raw_command(port: int) -> list[str]:
    return [
        venv_bin("raw", "gunicorn"),
        "-k",
        "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
        "-w",
        "1",
        "--worker-connections",
        "20000",
        "--no-control-socket",
        "--log-level",
        "warning",
        "-b",
        f"{HOST}:{port}",
        "raw_app:application",
    ]


def _bare_command(port: int) -> list[str]:
    return [venv_bin("raw", "python"), "bare_server.py", str(port)]


def _node_command(port: int) -> list[str]:
    return ["node", "server.js", str(port)]


def _daphne_command(port: int) -> list[str]:
    return [
        venv_bin("channels", "daphne"),
        "-b",
        HOST,
        "-p",
        str(port),
        "-v",
        "0",
        "benchproject.asgi:application",
    ]


def _uvicorn_command(port: int) -> list[str]:
    return [
        venv_bin("channels", "uvicorn"),
        "benchproject.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--ws",
        "websockets",
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
        "--workers",
        "1",
    ]


TARGETS: dict[str, Target] = {
    "djws": Target(
        "djws",
        "djws (runwebsocket)",
        "djws",
        "benchproject.settings_djws",
        _djws_command,
        PROJECT,
        {"djws": "/echo"},
    ),
    "raw": Target(
        "raw",
        "raw gevent-websocket (gunicorn)",
        "raw",
        None,
        _raw_command,
        RAW,
        {"raw": "/echo"},
    ),
    "bare": Target(
        "bare",
        "bare gevent sockets (no WSGI, no HTTP parser)",
        "raw",
        None,
        _bare_command,
        RAW,
        {"bare": "/echo"},
        only=frozenset({"echo", "handshake", "idle"}),
        na="no equivalent: the bare server echoes; it has no groups to broadcast to",
    ),
    "ws": Target(
        "ws",
        "Node.js ws library",
        "node",
        None,
        _node_command,
        NODE,
        {"ws": "/echo"},
    ),
    "daphne": Target(
        "daphne",
        "Channels + Daphne",
        "channels",
        "benchproject.settings_channels",
        _daphne_command,
        PROJECT,
        {"daphne": "/echo", "daphne-sync": "/echo-sync"},
    ),
    "uvicorn": Target(
        "uvicorn",
        "Channels + uvicorn",
        "channels",
        "benchproject.settings_channels",
        _uvicorn_command,
        PROJECT,
        {"uvicorn": "/echo", "uvicorn-sync": "/echo-sync"},
    ),
}


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def handshake_once(port: int, path: str = "/echo", timeout: float = 2.0) -> bool:
    """Open one WebSocket to 127.0.0.1:``port``, send a message, expect it back."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{HOST}:{port}\r\n\r\n"
    ).encode()
    accept = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    )
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(request)
            data = b""
            for _ in range(100):
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                data += chunk
                if b"\r\n\r\n" in data:
                    break
            head, _, rest = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101") or accept not in head:
                return False
            sock.sendall(
                b"\x81\x84"
                + b"\x01\x02\x03\x04"
                + bytes(a ^ b for a, b in zip(b"ping", b"\x01\x02\x03\x04", strict=True))
            )
            for _ in range(100):
                if len(rest) >= 6:
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                rest += chunk
            ok = rest[:6] == b"\x81\x04ping"
            sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
            return ok
    except OSError:
        return False


#: Every core this machine gives the benchmark (before run.py pins itself to one).
ALL_CPUS = frozenset(os.sched_getaffinity(0))


def child_setup(cpu: int | None) -> Callable[[], None]:
    def setup() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        # Pinned to ``cpu``, or free to use every core: never the pinning of run.py,
        # which a child would otherwise inherit.
        os.sched_setaffinity(0, {cpu} if cpu is not None else ALL_CPUS)

    return setup


def server_env(target: Target, db: Path | None) -> dict[str, str]:
    """The environment a server (or its manage.py) runs with."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{VENVS / target.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    if target.settings:
        env["DJANGO_SETTINGS_MODULE"] = target.settings
    if db is not None:
        env["BENCH_DB"] = str(db)
    return env


def prepare_database(target: Target, db: Path) -> str:
    """Make a fresh SQLite DB for ``target``: migrate, create the user and a session.

    Returns the session key (the ``sessionid`` cookie the load client sends).
    """
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = server_env(target, db)
    python = venv_bin(target.venv, "python")
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=PROJECT,
        env=env,
        check=True,
        timeout=300,
    )
    out = subprocess.run(
        [python, "manage.py", "benchsession"],
        cwd=PROJECT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


class Server:
    """One running server process (and its process group)."""

    def __init__(
        self,
        target: Target,
        port: int,
        log_path: Path,
        db: Path | None,
        cpu: int | None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.target = target
        self.extra_env = extra_env or {}
        self.port = port
        self.log_path = log_path
        self.db = db
        self.cpu = cpu
        self.argv = target.command(port)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The PID of the process this object started."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_timeout: float = 90.0) -> None:
        """Start the server and wait until an echo round trip works."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logfile:
            logfile.write(f"\n$ (cd {self.target.cwd} && {' '.join(self.argv)})\n".encode())
            logfile.flush()
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.target.cwd,
                env={**server_env(self.target, self.db), **self.extra_env},
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_setup(self.cpu),
            )
        deadline = time.monotonic() + ready_timeout
        for _ in range(int(ready_timeout / 0.2) + 1):
            if time.monotonic() >= deadline:
                break
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.target.name} exited with {self.proc.returncode}: {self.log_tail()}"
                )
            if handshake_once(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.target.name} not ready in {ready_timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        """The end of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, then SIGKILL whatever remains."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is our child's PID
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            for _ in range(int(wait / 0.1) + 1):
                if time.monotonic() >= deadline:
                    break
                self.proc.poll()
                if not _group_alive(pgid):
                    break
                time.sleep(0.1)
            if not _group_alive(pgid):
                break
        self.proc.poll()
        self.proc = None


BROADCAST_CLEANUP = """
import sys
url, prefix = sys.argv[1], sys.argv[2]
if url.startswith("postgres"):
    import psycopg
    tables = ("djws_broadcast_presence", "djws_broadcast_stream", "djws_broadcast_history")
    with psycopg.connect(url, autocommit=True) as conn:
        deleted = sum(
            conn.execute(f"DELETE FROM {table} WHERE grp LIKE %s", [prefix + ":%"]).rowcount
            for table in tables
        )
else:
    import redis
    client = redis.Redis.from_url(url, socket_timeout=10)
    keys = list(client.scan_iter(match=prefix + ":*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    deleted = len(keys)
print(deleted)
"""


def broadcast_cleanup(url: str, prefix: str) -> str:
    """Delete what a run left under ``prefix:`` in Redis or PostgreSQL (only that)."""
    out = subprocess.run(
        [venv_bin("djws", "python"), "-c", BROADCAST_CLEANUP, url, prefix],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return (out.stdout or out.stderr).strip()[-300:]


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies still count for killpg; look for a live member in /proc.
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False
