"""Django app configuration for djws."""

from django.apps import AppConfig

__all__ = ["DjwsConfig"]


class DjwsConfig(AppConfig):
    """Registers djws's system checks, template tags, management command and the
    signal receivers that close the sockets of sessions that end."""

    name = "djws"
    verbose_name = "WebSockets"

    def ready(self) -> None:
        """Register the checks; connect the receivers of :mod:`djws.sessions`."""
        from . import checks, sessions  # noqa: F401
        from .auth import checks as auth_checks  # noqa: F401

        sessions.connect()
