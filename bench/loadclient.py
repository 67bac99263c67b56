#!/usr/bin/env python3
"""The load client of the djws benchmarks: one process, standard library only.

The client itself is the package ``bench/load/`` (its docstring says how it is
built so as not to be the bottleneck); this script only runs one of its scenarios
(``load.scenarios.SCENARIOS``) with the open-file limit raised, pinned to the
configured core and with the garbage collector off, and prints the result.

Usage (the orchestrator ``bench/run.py`` does this)::

    python bench/loadclient.py '{"scenario": "echo", "port": 8001, ...}'

The JSON result goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys

# bench/ is not a package: Python puts a script's directory first on sys.path, but not
# under ``python -P`` or PYTHONSAFEPATH; this makes sure ``load`` (bench/load/) is found.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from load import perf
from load.scenarios import SCENARIOS


def main(argv: list[str]) -> int:
    """Run the scenario described by the JSON in ``argv[1]``; print the JSON result."""
    cfg = json.loads(argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cfg.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cfg["cpu"])})
    gc.disable()  # a collection pass over thousands of connections would stall the loop
    started = perf()
    result = SCENARIOS[cfg["scenario"]](cfg)
    result["client_wall_s"] = round(perf() - started, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
