r"""How to reach Redis: one server, a primary watched by Sentinel, or a Cluster.

``WEBSOCKET_BROADCAST_URL`` names the shape:

* ``redis://``, ``rediss://``, ``unix://``: one server -- or any node of a
  Cluster, which is detected when the first connection is made
  (``INFO cluster``);
* ``redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]``
  (``rediss+sentinel://`` for TLS): the primary Sentinel names for
  ``service``, found again after a failover. ``sentinel_password`` (and
  ``sentinel_username``) in the query string authenticate to the sentinels
  themselves; ``user:password`` is for the Redis servers;
* ``redis+cluster://host:port[,host:port...]/`` (``rediss+cluster://``): a
  Cluster, from several seed nodes.

Every other query parameter is handed to redis-py (``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``, ``ssl_check_hostname``...).

:class:`Shape` builds the client for commands (a blocking pool of
:data:`POOL_SIZE` connections to the primary, following failovers with
Sentinel; a ``RedisCluster`` routing by slot) and the plain connections the
listener subscribes on.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
import redis.cluster
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["POOL_SIZE", "Shape", "ShapeError", "cluster_mismatch", "split_url"]

POOL_SIZE = 8


class ShapeError(redis.RedisError):
    """The URL does not match the Redis deployment it names."""


class SentinelBlockingPool(redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """Sentinel's pool (connections to whatever primary Sentinel names), blocking
    like the pool of one server when every connection is busy."""


def split_url(url: str) -> tuple[str, list[tuple[str, int]], str, dict[str, str]]:
    """Split a multi-host URL: (scheme, [(host, port)...], path, query parameters).

    The user and password, if any, are in the query parameters as ``username``
    and ``password``.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    query = dict(parse_qsl(parts.query))
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        if user:
            query.setdefault("username", unquote(user))
        if password:
            query.setdefault("password", unquote(password))
    hosts = []
    for item in filter(None, netloc.split(",")):
        if item.startswith("["):  # [::1]:6379
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = item.partition(":")
        hosts.append((host, int(port) if port else 0))
    return parts.scheme.lower(), hosts, parts.path, query


def _options(query: dict[str, str]) -> dict[str, Any]:
    """redis-py's keyword arguments from URL query parameters (as from_url reads them)."""
    if not query:
        return {}
    parsed = redis.connection.parse_url("redis://localhost/?" + urlencode(query))  # type: ignore[no-untyped-call]
    for key in ("host", "port"):
        parsed.pop(key, None)
    if "password" in query:
        parsed["password"] = query["password"]
    if "username" in query:
        parsed["username"] = query["username"]
    return dict(parsed)


def cluster_mismatch(url: str, cluster: bool) -> str:
    """Say what is wrong when ``url``'s shape and the server's mode disagree."""
    _, hosts, _, _ = split_url(url)
    where = ", ".join(f"{host}:{port}" if port else host for host, port in hosts)
    if cluster:
        return (
            f"WEBSOCKET_BROADCAST_URL names one server, but the Redis at {where} is a "
            "Cluster node: use 'redis+cluster://host:port[,host:port...]/'"
        )
    return (
        f"WEBSOCKET_BROADCAST_URL names a Cluster, but the Redis at {where} is not a "
        "Cluster node (cluster_enabled:0): use 'redis://host:port/0' for one server, "
        "'redis+sentinel://host:port/service' for Sentinel"
    )


class Shape:
    """The Redis deployment a URL names, and the clients to reach it."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        scheme = url.split("://", 1)[0].lower()
        self.sentinel_service = ""
        #: "server", "sentinel" or "cluster" ("server" may turn out to be a cluster).
        self.kind = "server"
        self._lock = threading.Lock()
        self._client: Any = None
        self._sentinel: redis.sentinel.Sentinel | None = None
        common: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
        }
        if scheme.endswith("+sentinel"):
            self.kind = "sentinel"
            _, hosts, path, query = split_url(url)
            sentinel_kwargs: dict[str, Any] = {
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
            }
            for key in ("sentinel_password", "sentinel_username"):
                if key in query:
                    sentinel_kwargs[key.split("_", 1)[1]] = query.pop(key)
            names = [p for p in path.split("/") if p]
            if not names:
                raise ShapeError(f"{url!r} names no Sentinel service: add '/service_name'")
            self.sentinel_service = names[0]
            options = {**_options(query), **common}
            options["db"] = int(names[1]) if len(names) > 1 else options.get("db", 0)
            if scheme.startswith("rediss"):
                options["ssl"] = True
                sentinel_kwargs["ssl"] = True
                for key, value in options.items():
                    if key.startswith("ssl_"):
                        sentinel_kwargs[key] = value
            self._sentinel = redis.sentinel.Sentinel(
                [(h, p or 26379) for h, p in hosts], sentinel_kwargs=sentinel_kwargs
            )
            self.options = options
            self._pool: Any = SentinelBlockingPool(  # type: ignore[no-untyped-call]
                self.sentinel_service,
                self._sentinel,
                max_connections=POOL_SIZE,
                timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                **options,
            )
        elif scheme.endswith("+cluster"):
            self.kind = "cluster"
            _, hosts, _, query = split_url(url)
            self.seeds = [(h, p or 6379) for h, p in hosts]
            self.options = {**_options(query), **common}
            if scheme.startswith("rediss"):
                self.options["ssl"] = True
            self._pool = None
        else:
            self._pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=POOL_SIZE,
                timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                **common,
            )
            self.options = {
                k: v
                for k, v in self._pool.connection_kwargs.items()
                if not k.startswith("maint_notifications")
            }
            self.seeds = [(self.options.get("host", "localhost"), self.options.get("port", 6379))]

    @property
    def cluster(self) -> bool:
        """Whether this is a Cluster (known once :meth:`client` connected)."""
        return self.kind == "cluster"

    def client(self) -> Any:
        """The client for commands, built (and a plain URL's mode detected) on first use.

        Raise a ``redis.RedisError`` if Redis cannot be reached: the next call tries again.
        """
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        if self.kind == "server":
            plain = redis.Redis(connection_pool=self._pool)
            if self.options.get("path") is None and _is_cluster(plain):
                self.kind = "cluster"
                self._pool.disconnect()
                self._pool = None
        if self.kind == "cluster":
            try:
                return redis.cluster.RedisCluster(
                    startup_nodes=[
                        redis.cluster.ClusterNode(h, p)  # type: ignore[no-untyped-call]
                        for h, p in self.seeds
                    ],
                    retry=Retry(NoBackoff(), 0),  # bounded by one timeout; MOVED still followed
                    **{k: v for k, v in self.options.items() if k not in ("db", "retry")},
                )
            except redis.exceptions.RedisClusterException as exc:
                if "not enabled" in str(exc).lower() or "cluster mode" in str(exc).lower():
                    raise ShapeError(cluster_mismatch(self.url, False)) from exc
                raise redis.ConnectionError(str(exc)) from exc
        return redis.Redis(connection_pool=self._pool)

    def connect(self, address: tuple[str, int] | None = None, **overrides: Any) -> Any:
        """A new plain connection for subscribing, connected.

        To ``address`` (a Cluster node), or to the server, or to the primary
        Sentinel names now (checked with ``ROLE``: one just demoted is refused).
        """
        kwargs = {k: v for k, v in self.options.items() if k not in ("connection_pool", "db")}
        kwargs.update(overrides)
        if not self.cluster:
            kwargs["db"] = self.options.get("db", 0)
        ssl = bool(kwargs.pop("ssl", False))
        if self.options.get("path") is not None:
            cls: Any = redis.UnixDomainSocketConnection
        elif ssl or self.url.lower().startswith("rediss"):
            cls = redis.SSLConnection
        else:
            cls = redis.Connection
        if cls is not redis.SSLConnection:
            kwargs = {k: v for k, v in kwargs.items() if not k.startswith("ssl_")}
        if address is None and self._sentinel is not None:
            address = self._sentinel.discover_master(self.sentinel_service)
        if address is not None:
            kwargs["host"], kwargs["port"] = address
        conn = cls(**kwargs)
        conn.connect()
        if self._sentinel is not None:
            conn.send_command("ROLE")
            role = conn.read_response()
            if role[0] != b"master":
                conn.disconnect()
                raise redis.ConnectionError(f"{address} is not the primary any more")
        return conn

    def primary_address(self) -> tuple[str, int] | None:
        """Where Sentinel says the primary is now (None for other shapes)."""
        if self._sentinel is None:
            return None
        address: tuple[str, int] = self._sentinel.discover_master(self.sentinel_service)
        return address

    def close(self) -> None:
        """Close every connection."""
        client, self._client = self._client, None
        if client is not None and self.cluster:
            client.close()
        if self._pool is not None:
            self._pool.disconnect()


def _is_cluster(client: redis.Redis) -> bool:
    info = client.info("cluster")
    return bool(int(info.get("cluster_enabled", 0)))
