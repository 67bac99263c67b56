"""The chat's form: validation of what chat clients send.

A WebSocket message is user input like a POST body; validating it with a Django
form gives the same field rules and error messages as the rest of a site, and a
bad message becomes an error sent back on the socket instead of an exception.
"""

from __future__ import annotations

from typing import ClassVar

from django import forms

from .models import ChatMessage

__all__ = ["ChatMessageForm"]


class ChatMessageForm(forms.ModelForm):  # type: ignore[type-arg] # not subscriptable at run time
    """A chat message: who says it (name and name colour) and what."""

    class Meta:
        model = ChatMessage
        fields: ClassVar[list[str]] = ["name", "color", "text"]

    def clean_color(self) -> str:
        """Store colours in one spelling, ``#rrggbb`` in lower case."""
        color: str = self.cleaned_data["color"]
        return color.lower()
