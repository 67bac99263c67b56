"""What the tests share: servers, clients, probes and waiting, one copy of each.

No tests here. The common names are re-exported from this package
(``from .support import Server, run_server, wait_for``); the helpers of a few
test modules each are imported from their own module:

- :mod:`.servers`: real ``runwebsocket`` processes, the test project's
  ``manage.py``, raw HTTP requests, and the fast tier's rule that no test of it
  starts a server or runs ``manage.py``;
- :mod:`.wait`: :func:`wait_for`, the one bounded polling loop;
- :mod:`.raw`: the raw-socket WebSocket client and the one client frame encoder;
- :mod:`.probes`: a server's worker processes, their memory, its health;
- :mod:`.clients`: logging in, joining groups and publishing through the test
  project's views;
- :mod:`.inprocess`: the test project's views served in the pytest process by
  ``djws.test.WebSocketClient``, for the fast tier;
- :mod:`.faults`: a Redis of the test's own, publisher processes, members on both
  workers;
- :mod:`.redis_shapes`: Sentinel, Cluster, TLS and ACL Redis deployments;
- :mod:`.netns`: hosts in network namespaces, for the multi-host tests;
- :mod:`.browser` and :mod:`.accessibility`: the sample site for Chromium, and
  axe-core's audit.
"""

from __future__ import annotations

from .clients import (
    PG_URL,
    Events,
    ask_json,
    closed_with,
    envelope,
    identity,
    join,
    login,
    member,
    open_ws,
    publish,
    shell,
    still_open,
    unique_prefix,
)
from .probes import assert_healthy, children, is_alive, rss_kib, worker_pid
from .raw import RawClient, client_frame, close_frame
from .servers import (
    PROJECT,
    SAMPLE_SITE,
    Server,
    ServerForbidden,
    free_port,
    http_get,
    manage,
    project_env,
    raw_request,
    run_server,
    start_server,
    status_of,
    upgrade_request,
    wait_for_port,
)
from .wait import wait_for

__all__ = [
    "PG_URL",
    "PROJECT",
    "SAMPLE_SITE",
    "Events",
    "RawClient",
    "Server",
    "ServerForbidden",
    "ask_json",
    "assert_healthy",
    "children",
    "client_frame",
    "close_frame",
    "closed_with",
    "envelope",
    "free_port",
    "http_get",
    "identity",
    "is_alive",
    "join",
    "login",
    "manage",
    "member",
    "open_ws",
    "project_env",
    "publish",
    "raw_request",
    "rss_kib",
    "run_server",
    "shell",
    "start_server",
    "status_of",
    "still_open",
    "unique_prefix",
    "upgrade_request",
    "wait_for",
    "wait_for_port",
    "worker_pid",
]
