"""Why a test's wait timed out: :func:`timeout_error`.

A test that waits for a broadcast published inside ``transaction.atomic()``
waits for a commit; inside ``TestCase`` none ever comes. The error says so,
naming the groups, instead of a bare timeout.
"""

from __future__ import annotations

from ..broadcast.commit import pending

__all__ = ["timeout_error"]


def timeout_error(seconds: float, waiting_for: str) -> TimeoutError:
    """A ``TimeoutError`` for a wait of ``seconds``, naming publishes still waiting for a commit."""
    message = f"timed out after {seconds} s waiting for {waiting_for}"
    groups = list(dict.fromkeys(pending()))
    if groups:
        names = ", ".join(repr(group) for group in groups)
        message += (
            f"; a message published to {'group' if len(groups) == 1 else 'groups'} {names} "
            "inside transaction.atomic() waits for its transaction to commit, and TestCase "
            "never commits: run the code that publishes inside "
            "'with self.captureOnCommitCallbacks(execute=True):'"
        )
    return TimeoutError(message)
