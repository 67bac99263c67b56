"""``manage.py benchsession``: create the bench user and a logged-in DB session.

Prints the session key, which the load client sends as the ``sessionid`` cookie.
``--users N`` creates users ``bench-0`` ... ``bench-<N-1>`` instead, one session
each, and prints their keys, one a line (the render scenario's distinct users);
the even-numbered ones may view users (a permission their fragment shows).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Permission
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    """Create (or reuse) user "bench" and save a session that logs it in."""

    help = "Create the bench user and a logged-in session; print the session key."

    def add_arguments(self, parser: Any) -> None:
        """``--users N``."""
        parser.add_argument("--users", type=int, default=0, help="bench-0 ... bench-<N-1>")

    def handle(self, *args: Any, **options: Any) -> None:
        """Do it."""
        if options["users"]:
            allowed = Permission.objects.get(codename="view_user")
            for number in range(options["users"]):
                permission = allowed if number % 2 == 0 else None
                self.stdout.write(self.session_of(f"bench-{number}", permission))
        else:
            self.stdout.write(self.session_of("bench"))

    def session_of(self, username: str, permission: Permission | None = None) -> str:
        """Create (or reuse) ``username`` (given ``permission``) and a session that logs
        it in; return its key."""
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username)
        if created:
            user.set_password("bench")
            user.save()
        if permission is not None:
            user.user_permissions.add(permission)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.set_expiry(24 * 3600)
        session.save()
        return str(session.session_key)
