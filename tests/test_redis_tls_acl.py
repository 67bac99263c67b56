"""Redis over TLS with a test CA, and as an ACL user with only the rights djws needs.

The server speaks TLS only and asks for a client certificate; the CA, the
server's and the client's certificates are made with openssl for the test.
The ACL user is created with the line the "Redis in production" how-to gives,
character for character.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from djws.broadcast import PublishError
from djws.broadcast.backends.redis import RedisBackend
from djws.broadcast.message import encode

from .support.redis_shapes import (
    Cluster,
    Node,
    SentinelSet,
    documented_acl,
    make_tls,
    serve_one_member,
)

pytestmark = pytest.mark.redis


def test_rediss_with_the_ca_and_a_client_certificate_works(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    node = Node(tmp_path, tls=tls)
    try:
        url = (
            f"rediss://127.0.0.1:{node.port}/0?ssl_ca_certs={tls['ca']}"
            f"&ssl_certfile={tls['client']}&ssl_keyfile={tls['client-key']}"
        )
        serve_one_member(url, "tls")
    finally:
        node.kill()


def test_rediss_without_the_ca_fails_naming_what_to_set(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    node = Node(tmp_path, tls=tls)
    url = f"rediss://127.0.0.1:{node.port}/0"
    backend = RedisBackend(url, prefix="tls", presence_ttl=30, timeout=2.0)
    try:
        with pytest.raises(PublishError) as raised:
            backend.publish("room", encode("hello"))
        message = str(raised.value)
        assert message.startswith(f"could not publish to group 'room': Redis at {url} failed: ")
        assert "certificate verify failed" in message
        assert message.endswith(
            "(the server's TLS certificate is not trusted: add "
            "'?ssl_ca_certs=/path/to/ca.pem' to WEBSOCKET_BROADCAST_URL)"
        )
    finally:
        backend.close()
        node.kill()


def test_the_documented_acl_user_has_every_right_djws_needs(tmp_path: Path) -> None:
    node = Node(tmp_path)
    try:
        node.client().execute_command(*documented_acl().split())
        url = f"redis://djws:change-me@127.0.0.1:{node.port}/0"
        serve_one_member(url, "djws")
        # ...and no more: other keys and channels are out of its reach.
        limited = node.client(username="djws", password="change-me")
        with pytest.raises(redis.exceptions.NoPermissionError, match="one of the keys"):
            limited.set("other:key", "1")
        with pytest.raises(redis.exceptions.NoPermissionError, match="one of the channels"):
            limited.publish("other:channel", "1")
        with pytest.raises(redis.exceptions.NoPermissionError, match="'flushall' command"):
            limited.flushall()
        # A user lacking one of the rights: the error says where the line is.
        line = documented_acl().replace("SETUSER djws", "SETUSER short").replace(" +xadd", "")
        node.client().execute_command(*line.split())
        backend = RedisBackend(
            f"redis://short:change-me@127.0.0.1:{node.port}/0", prefix="djws", presence_ttl=30
        )
        try:
            with pytest.raises(PublishError) as raised:
                backend.publish("room", encode("hello"))
        finally:
            backend.close()
        assert "can't run this command" in str(raised.value)
        assert str(raised.value).endswith(
            "(the Redis ACL user lacks a right djws needs: see the ACL line in "
            "djws's 'Redis in production' how-to)"
        )
    finally:
        node.kill()


def test_rediss_sentinel_and_rediss_cluster_speak_tls_to_every_server(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    sentinels = SentinelSet(tmp_path / "sentinel", tls=tls)
    try:
        serve_one_member(sentinels.url, "tls-sentinel")
    finally:
        sentinels.stop()
    cluster = Cluster(tmp_path / "cluster", tls=tls)
    try:
        serve_one_member(cluster.url, "tls-cluster")
    finally:
        cluster.stop()
