"""The chat's settings, read lazily from ``django.conf.settings`` like djws's own.

Documented with the others in ``docs/reference/settings.rst``; keep the two in step.
"""

from __future__ import annotations

from typing import Any

from ...conf import Settings

__all__ = ["DEFAULTS", "ChatSettings", "settings"]

DEFAULTS: dict[str, Any] = {
    # Messages per room the chat keeps and sends to a client that joins; 0 keeps none.
    "WEBSOCKET_CHAT_HISTORY": 50,
}


class ChatSettings(Settings):
    """Attribute access to the chat's settings, falling back to its ``DEFAULTS``."""

    defaults = DEFAULTS
    app = "djws.contrib.chat"


settings = ChatSettings()
