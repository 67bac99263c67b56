"""``manage.py benchsession``: create the bench user and a logged-in DB session.

Prints the session key, which the load client sends as the ``sessionid`` cookie.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    """Create (or reuse) user "bench" and save a session that logs it in."""

    help = "Create the bench user and a logged-in session; print the session key."

    def handle(self, *args: Any, **options: Any) -> None:
        """Do it."""
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username="bench")
        if created:
            user.set_password("bench")
            user.save()
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.set_expiry(24 * 3600)
        session.save()
        self.stdout.write(session.session_key)
