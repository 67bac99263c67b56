"""The live pages' comment form: the same rules whether it came over HTTP or a WebSocket."""

from typing import ClassVar

from django import forms

from .models import Comment

__all__ = ["CommentForm"]


class CommentForm(forms.ModelForm):
    """Name and comment, both required."""

    class Meta:
        model = Comment
        fields: ClassVar[list[str]] = ["name", "text"]
        widgets: ClassVar[dict[str, forms.Widget]] = {
            "name": forms.TextInput(attrs={"autocomplete": "nickname", "spellcheck": "false"}),
            "text": forms.TextInput(attrs={"autocomplete": "off"}),
        }
