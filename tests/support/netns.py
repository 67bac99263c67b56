"""Hosts of the test's own, in network namespaces: a private network for multi-host tests.

:class:`Network` builds, inside this machine, what a small deployment looks
like from the network's point of view::

    test client .1 --- front bridge ---+--- .11 h1 .131 ---+--- back bridge --- .130 Redis
    (root namespace)   10.213.N.0/25   +--- .12 h2 .132 ---+    10.213.N.128/25

Each host and the Redis server is a network namespace (``ip netns``) joined to
a bridge by a veth pair; every host has two interfaces, like a server with a
public and a private network: the test client reaches the hosts on the front
bridge, the hosts reach Redis on the back bridge. Cutting a host's back link
(:meth:`Network.cut`) cuts it off from Redis and nothing else. Each host has a
hostname of its own (a UTS namespace, ``unshare --uts``), so presence entries
name their host.

Nothing here talks to any address outside the 10.213.N.0/24 subnet that the
network picks for itself (one no interface or route of the machine uses), and
:meth:`Network.close` removes every namespace, link and process it made, even
after a failure. Building the network needs root and iproute2; when that fails
the test fails, saying why: it never skips.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from .faults import PUBLISHER, Publisher
from .servers import PROJECT, URL_RE, Server, project_env, refuse_in_the_fast_tier, wait_for_port
from .wait import wait_for

__all__ = ["IP", "Namespace", "Network", "network"]

IP = "/usr/sbin/ip"
#: Subnets are picked in 10.213.0.0/16: private, and unlikely to clash with anything.
SUBNETS = ipaddress.ip_network("10.213.0.0/16")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; fail with its error output when ``check`` and it fails."""
    result = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"`ip {' '.join(args)}` failed ({result.returncode}): {result.stderr.strip()} "
            "-- the multi-host tests need root and iproute2 to build network namespaces"
        )
    return result


@dataclass
class Namespace:
    """One host: a network namespace, its addresses and the root side of its links."""

    name: str
    hostname: str
    #: Address on the front bridge (None: not on it), and on the back bridge.
    front: str | None
    back: str | None
    #: The root namespace's end of each veth pair: what cut() takes down.
    front_link: str | None
    back_link: str | None

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this namespace, with this host's hostname."""
        return [
            IP, "netns", "exec", self.name,
            "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname,
            *argv,
        ]  # fmt: skip

    def pids(self) -> list[int]:
        """Every process running in this namespace."""
        return [int(pid) for pid in ip("netns", "pids", self.name).stdout.split()]

    def kill_all(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the namespace, and wait until none is left."""

        def none_left() -> bool:
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return not pids

        wait_for(
            none_left,
            timeout,
            lambda: f"every process of {self.name} ending on SIGKILL (left: {self.pids()})",
        )


class Network:
    """A front and a back bridge, namespaces on them, and the processes run inside."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(2)
        self.subnet = self._free_subnet()
        hosts = list(self.subnet.hosts())
        self._front_hosts = iter(str(a) for a in hosts[10:120])
        self._back_hosts = iter(str(a) for a in hosts[129:250])
        self.front_bridge = f"djf{self.tag}"
        self.back_bridge = f"djb{self.tag}"
        self.namespaces: list[Namespace] = []
        self.processes: list[subprocess.Popen[str]] = []
        self._bridges: list[str] = []
        self.client_address = str(hosts[0])

    def start(self) -> None:
        """Create the two bridges; the root namespace (the test client) joins the front one."""
        self._bridge(self.front_bridge, f"{self.client_address}/25")
        self._bridge(self.back_bridge, None)

    @staticmethod
    def _free_subnet() -> ipaddress.IPv4Network:
        """A /24 of 10.213.0.0/16 that no address or route of this machine uses."""
        used = ip("-4", "addr").stdout + ip("-4", "route").stdout
        candidates = list(SUBNETS.subnets(new_prefix=24))[1:-1]
        random.shuffle(candidates)
        for subnet in candidates:
            prefix = str(subnet.network_address).rsplit(".", 1)[0] + "."
            if prefix not in used:
                return subnet
        raise AssertionError("no free /24 in 10.213.0.0/16 for the test network")

    def _bridge(self, name: str, address: str | None) -> None:
        ip("link", "add", name, "type", "bridge")
        self._bridges.append(name)
        if address is not None:
            ip("addr", "add", address, "dev", name)
        ip("link", "set", name, "up")

    def _link(self, namespace: str, inside: str, bridge: str, address: str, index: int) -> str:
        outside = f"dj{self.tag}{inside[0]}{index}"
        ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", namespace)
        ip("link", "set", outside, "master", bridge, "up")
        ip("-n", namespace, "addr", "add", f"{address}/25", "dev", inside)
        ip("-n", namespace, "link", "set", inside, "up")
        return outside

    def host(self, role: str, *, front: bool = True, back: bool = True) -> Namespace:
        """A new namespace named after ``role``, on the front and/or back bridge."""
        index = len(self.namespaces) + 1
        name = f"djws-{self.tag}-{role}"
        ip("netns", "add", name)
        namespace = Namespace(name, f"{role}-{self.tag}", None, None, None, None)
        self.namespaces.append(namespace)
        ip("-n", name, "link", "set", "lo", "up")
        if front:
            namespace.front = next(self._front_hosts)
            namespace.front_link = self._link(
                name, "front", self.front_bridge, namespace.front, index
            )
        if back:
            namespace.back = next(self._back_hosts)
            namespace.back_link = self._link(name, "back", self.back_bridge, namespace.back, index)
        return namespace

    def cut(self, namespace: Namespace) -> None:
        """Take the host's back link down: no packet reaches Redis, none comes back."""
        assert namespace.back_link is not None
        ip("link", "set", namespace.back_link, "down")

    def restore(self, namespace: Namespace) -> None:
        """Bring the host's back link up again."""
        assert namespace.back_link is not None
        ip("link", "set", namespace.back_link, "up")

    # Processes

    def redis(self, namespace: Namespace, port: int = 6379) -> str:
        """Start a redis-server (no persistence) on the namespace's back address; its URL."""
        assert namespace.back is not None
        process = subprocess.Popen(
            namespace.command(
                "redis-server",
                "--bind",
                namespace.back,
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        ping = namespace.command("redis-cli", "-h", namespace.back, "-p", str(port), "ping")

        def answering() -> bool:
            assert process.poll() is None, f"redis-server exited in {namespace.name}"
            result = subprocess.run(ping, capture_output=True, text=True, timeout=10)
            return result.stdout == "PONG\n"

        try:
            wait_for(answering, 10, f"redis-server in {namespace.name} answering PING")
        except AssertionError:
            process.kill()
            raise
        return f"redis://{namespace.back}:{port}/0"

    def server(
        self, namespace: Namespace, *args: str, env: dict[str, str], port: int = 8001
    ) -> Server:
        """Start ``runwebsocket ARGS`` on the host's front address; return once it answers."""
        assert namespace.front is not None
        refuse_in_the_fast_tier(f"a server (runwebsocket in {namespace.name})")
        argv = [sys.executable, "manage.py", "runwebsocket", "--noreload", *args]
        process = subprocess.Popen(
            namespace.command(*argv, f"{namespace.front}:{port}"),
            cwd=PROJECT,
            env=project_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.processes.append(process)
        output: list[str] = []
        started = threading.Event()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line)
                if URL_RE.search(line):
                    started.set()
            started.set()

        threading.Thread(target=pump, daemon=True).start()
        server = Server(process=process, port=port, host=namespace.front, output=output)
        if not started.wait(30) or process.poll() is not None:
            raise AssertionError(f"runwebsocket did not start in {namespace.name}:\n{server.log()}")
        wait_for_port(namespace.front, port, timeout=15.0)
        return server

    def publisher(
        self, namespace: Namespace, group: str, count: int, rate: float, env: dict[str, str]
    ) -> Publisher:
        """Publish ``count`` numbered messages from a process on ``namespace``."""
        process = subprocess.Popen(
            namespace.command(sys.executable, "-c", PUBLISHER, group, str(count), str(rate)),
            cwd=PROJECT,
            env=project_env(DJANGO_SETTINGS_MODULE="testproject.settings", **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return Publisher(process)

    def close(self) -> None:
        """Kill every process in the namespaces, then remove namespaces and bridges."""
        errors = []
        for namespace in self.namespaces:
            try:
                namespace.kill_all()
            except AssertionError as exc:
                errors.append(str(exc))
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        for namespace in self.namespaces:
            result = ip("netns", "del", namespace.name, check=False)
            if result.returncode:
                errors.append(result.stderr)
        for bridge in self._bridges:
            result = ip("link", "del", bridge, check=False)
            if result.returncode:
                errors.append(result.stderr)
        if errors:
            raise AssertionError("the test network was not fully removed: " + "; ".join(errors))


@contextlib.contextmanager
def network() -> Iterator[Network]:
    """A :class:`Network` for the duration of a ``with`` block, removed even on failure."""
    if os.geteuid() != 0:
        raise AssertionError("the multi-host tests build network namespaces: run them as root")
    net = Network()
    try:
        net.start()
        yield net
    finally:
        net.close()
