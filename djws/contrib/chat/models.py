"""The chat's model: the recent history of each room.

A project that lists ``"djws.contrib.chat"`` in ``INSTALLED_APPS`` gets the
table (``djws_chat_chatmessage``) with ``manage.py migrate``; the chat server
needs it, and tells clients to run ``migrate`` if it is missing.
"""

from __future__ import annotations

from typing import ClassVar

from django.apps import apps
from django.core.validators import RegexValidator
from django.db import models

__all__ = ["COLOR_RE", "ChatMessage"]

if not apps.is_installed("djws.contrib.chat"):
    # Django's own error names the model and "app_label", not what to do about it.
    raise RuntimeError(
        'djws.contrib.chat is not installed: add "djws.contrib.chat" to INSTALLED_APPS '
        "(then run manage.py migrate) to use the chat server, its models or its URLs."
    )

#: A name colour: ``#rrggbb``, what ``<input type="color">`` produces.
COLOR_RE = r"^#[0-9a-fA-F]{6}$"


class ChatMessage(models.Model):
    """One message said in a chat room, kept so that newcomers see the conversation."""

    # Explicit, so the migration does not depend on the project's DEFAULT_AUTO_FIELD.
    id = models.BigAutoField(primary_key=True)
    room = models.CharField(max_length=64)
    name = models.CharField(max_length=32)
    color = models.CharField(
        max_length=7,
        default="#000000",
        validators=[RegexValidator(COLOR_RE, "Enter a colour as #rrggbb, for example #1f77b4.")],
    )
    text = models.TextField(max_length=1000)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]
        indexes: ClassVar[list[models.Index]] = [
            # Not djws_chat_room_recent, the index of the table djws had before this
            # app: it may still exist, and an index name is unique in a database.
            models.Index(fields=["room", "-id"], name="djws_chat_message_room_recent"),
        ]
        verbose_name = "chat message"

    def __str__(self) -> str:
        return f"[{self.room}] {self.name}: {self.text[:40]}"

    def as_json(self) -> dict[str, object]:
        """Return the message as the chat server sends it to clients."""
        return {
            "type": "message",
            "id": self.id,
            "room": self.room,
            "name": self.name,
            "color": self.color,
            "text": self.text,
            "time": self.created.isoformat(),
        }
