"""Optional Django apps that come with djws, each enabled on its own.

Core djws installs no model and no migration: a project gets an app's tables
only by listing the app in ``INSTALLED_APPS``.

:mod:`djws.contrib.chat`
    The built-in chat server: rooms, a history kept in the database, and
    messages relayed through :mod:`djws.broadcast`.
"""

__all__: list[str] = []
