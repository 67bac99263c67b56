"""Models the tests write through WebSocket views."""

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)


class Message(models.Model):
    """A message on a stream: djws.live.broadcasts_to publishes it (testproject.live)."""

    stream = models.CharField(max_length=100)
    text = models.CharField(max_length=200)
