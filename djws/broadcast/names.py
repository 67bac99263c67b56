"""Group names: which are valid, and the reserved ones djws uses for users, sessions, closes."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLOSES",
    "MAX_GROUP_LENGTH",
    "RESERVED_PREFIX",
    "SESSION_PREFIX",
    "TARGETS",
    "USER_PREFIX",
    "check_group",
    "session_group",
    "user_group",
]

#: Group names starting with this are djws's own: a view may not join them.
RESERVED_PREFIX = "djws."
USER_PREFIX = "djws.user."
SESSION_PREFIX = "djws.session."
#: The one backend channel carrying every user- and session-targeted message.
TARGETS = "djws.targets"
#: The one backend channel carrying every order to close connections (:mod:`.orders`).
CLOSES = "djws.closes"
MAX_GROUP_LENGTH = 256


def check_group(group: Any, *, joining: bool = False) -> None:
    """Raise ValueError unless ``group`` is a valid group name.

    Joining a reserved name is refused: group names are often built from
    client input (``ws.join(f"room-{name}")``), and ``djws.user.42`` would
    otherwise let any client read user 42's private messages.
    """
    if not isinstance(group, str) or not group:
        raise ValueError(f"a group name is a non-empty str, not {group!r}")
    if len(group) > MAX_GROUP_LENGTH:
        raise ValueError(
            f"a group name is at most {MAX_GROUP_LENGTH} characters: {group[:40]!r}..."
        )
    if joining and group.startswith(RESERVED_PREFIX):
        raise ValueError(
            f"group names starting with {RESERVED_PREFIX!r} are reserved for djws; "
            "a connection is in its user's and session's groups already "
            "(broadcast.send_to_user / send_to_session)"
        )


def user_group(pk: Any) -> str:
    """The internal group of every connection of the user with primary key ``pk``."""
    return f"{USER_PREFIX}{pk}"


def session_group(session_key: str) -> str:
    """The internal group of every connection opened with session ``session_key``."""
    return f"{SESSION_PREFIX}{session_key}"
