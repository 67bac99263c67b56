"""App configuration of the playground."""

from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    """Pages, templates and static files of the sample site, and its live comments."""

    name = "playground"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Publish every new, changed or deleted comment to both live pages."""
        from djws import live

        from .live import HTMX_STREAM, TURBO_STREAM
        from .models import Comment

        comment = "playground/live/comment.html"
        live.broadcasts_to(Comment, lambda _: HTMX_STREAM, template=comment, format="htmx")
        live.broadcasts_to(Comment, lambda _: TURBO_STREAM, template=comment, format="turbo")
