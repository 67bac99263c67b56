"""Waiting for something to happen, bounded: the one polling loop of the tests.

A test that needs a condition to become true (a server printed a line, a
process exited, a port listens, a connection left presence) calls
:func:`wait_for` instead of writing its own deadline loop, and a condition that
never comes true fails the test with an :exc:`AssertionError` naming what was
awaited, never a hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    *,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``condition()`` until it returns something true, and return that.

    After ``timeout`` seconds, raise :exc:`AssertionError` saying that ``what``
    (a description of what should have happened; or a function returning one,
    called at the failure, to show the state then) never happened, with the
    condition's last value. Exceptions of the ``ignoring`` types raised by
    ``condition`` count as "not yet" (the last one is chained to the error).
    """
    deadline = time.monotonic() + timeout
    while True:
        error: BaseException | None = None
        try:
            value = condition()
        except ignoring as exc:
            value, error = None, exc  # type: ignore[assignment]
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            last = f"{type(error).__name__}: {error}" if error is not None else repr(value)
            raise AssertionError(
                f"{described}: never happened within {timeout:g} s (last: {last})"
            ) from error
        time.sleep(interval)
