"""The load client of the djws benchmarks: one process, standard library only.

It is written so that it is not the bottleneck: raw non-blocking sockets on one
``epoll`` object (no asyncio, no streams), client frames built once and masked in
advance, a fast path that recognises a whole echoed frame by one ``bytes``
comparison, and one clock read per ``epoll.poll()`` batch. It reports its own CPU
use (``cpu_client_percent``) and the server's (``cpu_server_percent``, from
``/proc``) over the measured window, so a reader can check that the server, not the
client, was saturated.

It only ever connects to 127.0.0.1. Every loop in it is bounded both in count and
in time: each phase has a deadline and every ``while`` checks it.

The modules, in reading order:

* :mod:`load.frames`: the WebSocket frames the client sends and recognises;
* :mod:`load.meters`: ``/proc`` and CPU meters, percentiles, latency summaries;
* :mod:`load.engine`: the ``epoll`` loop (``Engine``), its connections (``Conn``)
  and the scenario callbacks (``Handler``);
* :mod:`load.scenarios`: one module per scenario, and ``SCENARIOS``, the registry
  ``bench/loadclient.py`` runs them from.

``bench/`` is not a Python package: the package is imported as ``load`` with
``bench/`` on ``sys.path`` (``bench/loadclient.py``, run by path, has it there).
"""

from __future__ import annotations

import sys
import time

perf = time.perf_counter


def log(message: str) -> None:
    """Write a progress line to stderr."""
    print(f"[client {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
