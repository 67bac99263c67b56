"""``manage.py websocket_publish``: send a message to WebSockets from the command line.

::

    manage.py websocket_publish room-42 "maintenance in 5 minutes"
    manage.py websocket_publish room-42 '{"type": "reload"}' --json
    manage.py websocket_publish --user 7 "your export is ready"
    some-command | manage.py websocket_publish --binary room-42 -

It calls :func:`djws.broadcast.publish` (or ``send_to_user`` /
``send_to_session``) like any other code would, so it needs a backend shared
between processes: with ``memory://`` nothing could reach the server's sockets,
and the command says so instead of pretending to have sent.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djws import broadcast
from djws.broadcast.backends import get_backend
from djws.broadcast.backends.base import redact
from djws.conf import settings


class Command(BaseCommand):
    help = (
        "Publishes a message to a WebSocket group (or to a user's or session's "
        "connections) through WEBSOCKET_BROADCAST_URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "target",
            help="Group name; with --user a user's primary key; with --session a session key.",
        )
        parser.add_argument("message", help="The message; '-' reads it from standard input.")
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument(
            "--json", action="store_true", help="MESSAGE is JSON: publish the decoded value."
        )
        kind.add_argument(
            "--binary", action="store_true", help="Send MESSAGE's bytes in a binary frame."
        )
        audience = parser.add_mutually_exclusive_group()
        audience.add_argument(
            "--user", action="store_true", help="Send to every connection of this user."
        )
        audience.add_argument(
            "--session", action="store_true", help="Send to every connection of this session."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        backend = get_backend()
        if not backend.cross_process:
            raise CommandError(
                f"WEBSOCKET_BROADCAST_URL is {settings.WEBSOCKET_BROADCAST_URL!r}, which only "
                "reaches WebSockets of the process that publishes; this command's process "
                "serves none. Set it to a redis:// or postgresql:// URL shared with the server."
            )
        message = self.read_message(options)
        target = options["target"]
        try:
            if options["user"]:
                broadcast.send_to_user(target, message)
            elif options["session"]:
                broadcast.send_to_session(target, message)
            else:
                broadcast.publish(target, message)
        except broadcast.PublishError as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] >= 2:
            audience = "user" if options["user"] else "session" if options["session"] else "group"
            self.stdout.write(f"Published to {audience} {target!r} via {redact(backend.url)}.")

    def read_message(self, options: dict[str, Any]) -> Any:
        """The message to publish, as str, bytes or a decoded JSON value."""
        raw = options["message"]
        if raw == "-":
            data = sys.stdin.buffer.read()
            if options["binary"]:
                return data
            raw = data.decode()
        if options["binary"]:
            return raw.encode()
        if options["json"]:
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise CommandError(f"--json: MESSAGE is not valid JSON: {exc}") from exc
        return raw
