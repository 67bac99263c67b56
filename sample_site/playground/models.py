"""The live pages' comments: one table, shown on the htmx page and on the Turbo page."""

from django.db import models

__all__ = ["Comment"]


class Comment(models.Model):
    """A comment: who wrote it, what, and when."""

    name = models.CharField("name", max_length=40)
    text = models.CharField("comment", max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.text[:40]}"
