"""Django app configuration for the chat server, :mod:`djws.contrib.chat`."""

from django.apps import AppConfig

__all__ = ["ChatConfig"]


class ChatConfig(AppConfig):
    """Installs the chat's model and migration (table ``djws_chat_chatmessage``)."""

    name = "djws.contrib.chat"
    # "chat" is too common a label: a project's own chat app would clash with it.
    label = "djws_chat"
    verbose_name = "WebSocket chat"
    default_auto_field = "django.db.models.BigAutoField"
