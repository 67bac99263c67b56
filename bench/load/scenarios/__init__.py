"""The scenarios, one module each, and ``SCENARIOS``: name -> the function that runs it.

Each function takes the JSON configuration ``bench/run.py`` passes to
``bench/loadclient.py`` (``port``, ``path``, ``server_pid``, the scenario's own
counts and durations) and returns the JSON-able result the report reads. What each
one measures, and why, is in bench/README.md (Scenarios).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .broadcast import scenario_broadcast
from .echo import scenario_echo
from .flood import scenario_flood
from .handshake import scenario_handshake
from .idle import scenario_idle
from .render import scenario_render
from .resume import scenario_resume
from .storm import scenario_storm

SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "echo": scenario_echo,
    "flood": scenario_flood,
    "idle": scenario_idle,
    "handshake": scenario_handshake,
    "broadcast": scenario_broadcast,
    "storm": scenario_storm,
    "resume": scenario_resume,
    "render": scenario_render,
}
