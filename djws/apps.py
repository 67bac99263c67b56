"""Django app configuration for djws."""

from django.apps import AppConfig

__all__ = ["DjwsConfig"]


class DjwsConfig(AppConfig):
    """Registers djws's system checks, template tags, management command, the
    signal receivers that close the sockets of sessions that end, and what renders
    per-user messages (:mod:`djws.live.rendering`)."""

    name = "djws"
    verbose_name = "WebSockets"

    def ready(self) -> None:
        """Register the checks; connect the receivers of :mod:`djws.sessions`; give the
        broadcast hub its renderer."""
        from . import checks, sessions  # noqa: F401
        from .auth import checks as auth_checks  # noqa: F401
        from .broadcast import checks as broadcast_checks  # noqa: F401
        from .broadcast.hub import hub
        from .live.rendering import prepare

        sessions.connect()
        hub.renderer = prepare
