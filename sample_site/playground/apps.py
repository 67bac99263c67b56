"""App configuration of the playground."""

from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    """Pages, templates and static files of the sample site."""

    name = "playground"
