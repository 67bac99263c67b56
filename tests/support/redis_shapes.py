"""Redis deployments built by the tests: Sentinel, Cluster, TLS, from redis-server processes.

Every server listens on a free loopback port and lives in a temporary
directory of its own; the tests start, kill and stop them by PID, never the
machine's shared Redis.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from websockets.sync.client import connect

from djws.broadcast.backends.redis import RedisBackend
from djws.broadcast.message import encode

from .servers import free_port, start_server
from .wait import wait_for

__all__ = [
    "REDIS_DOWN",
    "Cluster",
    "Node",
    "SentinelSet",
    "documented_acl",
    "make_tls",
    "serve_one_member",
    "tls_query",
]


#: What a Redis that is starting, failing over or resharding raises: "not yet".
REDIS_DOWN = (redis.RedisError, OSError)


class Node:
    """One redis-server (or sentinel) process on a free loopback port."""

    def __init__(
        self,
        root: Path,
        *args: str,
        sentinel: bool = False,
        port: int = 0,
        tls: dict[str, Path] | None = None,
    ) -> None:
        self.port = port or free_port()
        #: The certificates, for a server that speaks TLS only (:func:`make_tls`).
        self.tls = tls
        self.dir = root / str(self.port)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.args = list(args)
        self.sentinel = sentinel
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start it (again: without persistence, a server comes back empty)."""
        command = ["redis-server"]
        if self.sentinel:
            config = self.dir / "sentinel.conf"
            if not config.exists():
                config.write_text("\n".join(self.args) + "\n")
            command += [str(config), "--sentinel"]
        if self.tls is None:
            command += ["--port", str(self.port)]
        else:
            command += ["--port", "0", "--tls-port", str(self.port)]
            command += ["--tls-cert-file", str(self.tls["server"])]
            command += ["--tls-key-file", str(self.tls["server-key"])]
            command += ["--tls-ca-cert-file", str(self.tls["ca"]), "--tls-auth-clients", "yes"]
        command += ["--bind", "127.0.0.1", "--dir", str(self.dir)]
        if not self.sentinel:
            command += ["--save", "", "--appendonly", "no", *self.args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir
        )
        wait_for(lambda: self.client().ping(), 10, f"redis on {self.port}", ignoring=REDIS_DOWN)

    def client(self, **kwargs: Any) -> redis.Redis:
        if self.tls is not None:
            kwargs.update(
                ssl=True,
                ssl_ca_certs=str(self.tls["ca"]),
                ssl_certfile=str(self.tls["client"]),
                ssl_keyfile=str(self.tls["client-key"]),
            )
        return redis.Redis(port=self.port, socket_timeout=2, **kwargs)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: nothing saved."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class SentinelSet:
    """A primary, a replica and three sentinels watching them (quorum 2)."""

    SERVICE = "djwsprimary"

    def __init__(
        self, root: Path, down_after_ms: int = 1000, tls: dict[str, Path] | None = None
    ) -> None:
        self.tls = tls
        extra = ["--tls-replication", "yes"] if tls else []
        self.primary = Node(root, *extra, tls=tls)
        self.replica = Node(
            root, "--replicaof", "127.0.0.1", str(self.primary.port), *extra, tls=tls
        )
        wait_for(self._synced, 20, "the replica's sync", ignoring=REDIS_DOWN)
        self.sentinels = []
        for _ in range(3):
            port = free_port()
            lines = [
                f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary.port} 2",
                f"sentinel down-after-milliseconds {self.SERVICE} {down_after_ms}",
                f"sentinel failover-timeout {self.SERVICE} 4000",
                f"sentinel parallel-syncs {self.SERVICE} 1",
            ]
            if tls:
                lines += [
                    f"tls-cert-file {tls['server']}",
                    f"tls-key-file {tls['server-key']}",
                    f"tls-ca-cert-file {tls['ca']}",
                    "tls-replication yes",
                ]
            self.sentinels.append(Node(root, *lines, sentinel=True, port=port, tls=tls))
        wait_for(
            self._ready, 20, "the sentinels to see each other and the replica", ignoring=REDIS_DOWN
        )

    def _synced(self) -> bool:
        info = self.replica.client().info("replication")
        return bool(info.get("master_link_status") == "up")

    def _ready(self) -> bool:
        for node in self.sentinels:
            master = node.client().sentinel_master(self.SERVICE)
            if int(master["num-other-sentinels"]) < 2 or int(master["num-slaves"]) < 1:
                return False
        return True

    @property
    def url(self) -> str:
        hosts = ",".join(node.address for node in self.sentinels)
        if self.tls:
            return f"rediss+sentinel://{hosts}/{self.SERVICE}/0?{tls_query(self.tls)}"
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def master_port(self) -> int:
        _host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(self.SERVICE)
        return int(port)

    def nodes(self) -> list[Node]:
        return [self.primary, self.replica, *self.sentinels]

    def stop(self) -> None:
        for node in self.nodes():
            node.kill()


class Cluster:
    """Three primaries with a replica each, made with ``redis-cli --cluster create``."""

    def __init__(self, root: Path, *args: str, tls: dict[str, Path] | None = None) -> None:
        self.tls = tls
        if tls:
            args = (*args, "--tls-cluster", "yes", "--tls-replication", "yes")
        self.nodes = [
            Node(
                root,
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "1000",
                # The bus port defaults to port + 10000: past 65535 for a high free port.
                "--cluster-port",
                str(free_port()),
                *args,
                tls=tls,
            )
            for _ in range(6)
        ]
        tls_options = []
        if tls:
            tls_options = ["--tls", "--cacert", str(tls["ca"]), "--cert", str(tls["client"])]
            tls_options += ["--key", str(tls["client-key"])]
        subprocess.run(
            [
                "redis-cli",
                *tls_options,
                "--cluster",
                "create",
                *(n.address for n in self.nodes),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        wait_for(self.ok, 20, "the cluster to be ok", ignoring=REDIS_DOWN)

    def ok(self) -> bool:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                info = node.client().cluster("info")
                if info.get("cluster_state") != "ok":
                    return False
                replication = node.client().info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
        return True

    @property
    def url(self) -> str:
        seeds = ",".join(n.address for n in self.nodes[:3])
        if self.tls:
            return f"rediss+cluster://{seeds}/?{tls_query(self.tls)}"
        return f"redis+cluster://{seeds}/"

    def node_of(self, key: str) -> Node:
        """The primary that owns ``key``'s slot now."""
        live = self.live()
        slot = live[0].client().cluster("keyslot", key)
        for start, end, primary, *_ in live[0].client().cluster("slots"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(primary[1]))
        raise AssertionError(f"no node owns {key!r}")

    def live(self) -> list[Node]:
        """The nodes whose process runs."""
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def node_id(self, node: Node) -> str:
        return str(node.client().execute_command("CLUSTER", "MYID").decode())

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


def tls_query(tls: dict[str, Path]) -> str:
    """The query parameters of a URL that trusts the test CA and shows the client certificate."""
    return f"ssl_ca_certs={tls['ca']}&ssl_certfile={tls['client']}&ssl_keyfile={tls['client-key']}"


def make_tls(root: Path) -> dict[str, Path]:
    """A test CA, and a server and a client certificate it signed (for 127.0.0.1)."""
    paths = {
        name: root / f"{name}.pem"
        for name in ("ca", "ca-key", "server", "server-key", "client", "client-key")
    }
    extensions = root / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=djws test CA",
        "-keyout", paths["ca-key"], "-out", paths["ca"])  # fmt: skip
    for name in ("server", "client"):
        request = root / f"{name}.csr"
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", paths[f"{name}-key"], "-out", request)  # fmt: skip
        run("x509", "-req", "-in", request, "-CA", paths["ca"], "-CAkey", paths["ca-key"],
            "-CAcreateserial", "-days", "1", "-out", paths[name],
            "-extfile", extensions)  # fmt: skip
    return paths


@contextlib.contextmanager
def temporary_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="djws-redis-") as name:
        yield Path(name)


HOWTO = Path(__file__).resolve().parents[2] / "docs" / "howto" / "redis-production.rst"


def documented_acl() -> str:
    """The ``ACL SETUSER`` line of the how-to, with its password."""
    match = re.search(r"^\s+(ACL SETUSER djws .+)$", HOWTO.read_text(), re.MULTILINE)
    assert match, "the how-to gives no ACL line"
    return match.group(1)


def serve_one_member(url: str, prefix: str) -> None:
    """A worker on ``url`` delivers a message published there to a member."""
    env = {"DJWS_TEST_BROADCAST_URL": url, "DJWS_TEST_BROADCAST_PREFIX": prefix}
    server = start_server(env=env)
    backend = RedisBackend(url, prefix=prefix, presence_ttl=30)
    try:
        with connect(f"{server.url}/broadcast/member/room/") as ws:
            assert ws.recv(timeout=10) == "joined"
            position = backend.publish("room", encode("hello"))
            assert ws.recv(timeout=10) == "hello"
            history = backend.read("room", 0)
            assert history.position == position
            assert [e.wire for e in history.entries] == [encode("hello")]
            assert [entry["worker"] for entry in backend.presence("room")] != []
    finally:
        backend.close()
        server.stop()
