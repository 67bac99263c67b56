"""Django app configuration for djws."""

from django.apps import AppConfig

__all__ = ["DjwsConfig"]


class DjwsConfig(AppConfig):
    """Registers djws's system checks, template tags and management command."""

    name = "djws"
    verbose_name = "WebSockets"

    def ready(self) -> None:
        """Import the checks modules so their checks register."""
        from . import checks  # noqa: F401
        from .auth import checks as auth_checks  # noqa: F401
