"""Messages that are not the same for every member: HTML or not, and rendered per user.

Two kinds of wire (:mod:`.message`) are tailored by each worker to each member
it delivers them to, instead of being framed once for all:

* **alternatives** (``b"a"``): one version for pages that swap in HTML (their
  client said ``djws-html=1``: htmx and Turbo pages) and one for other clients
  (a phone app's JSON). Each member gets the version for its kind, or nothing
  when the message has none for it: ``send_to_user(user, data, html=...)``
  reaches the user's pages with HTML and the user's app with data.
* **renders** (``b"r"``): a template and a context (:class:`djws.live.PerUser`),
  rendered by the worker with a member's own request -- its user, its
  permissions -- **once per distinct viewer** among the members it delivers the
  message to, not once per socket: ten sockets of one user cost one render.

A :class:`Tailor` is built per message and per delivery, and forgets its
renders afterwards. The rendering itself is the hub's ``renderer``
(:data:`Renderer`): broadcast knows nothing of templates; djws's app config
installs :func:`djws.live.rendering.prepare`.

A viewer is the member's user when it is authenticated, else its session,
else "anonymous": anonymous members without a session share one render.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from .members import Member, Subscriber
from .message import ALTERNATIVES, RENDER, split_alternatives

__all__ = ["Renderer", "Tailor", "tailor_for", "viewer_of"]

logger = logging.getLogger("djws.broadcast")

#: What renders a ``b"r"`` message: called once per message with its payload (the
#: bytes after the kind), it returns the function that renders it for one request.
Renderer = Callable[[bytes], Callable[[Any], str]]


def tailor_for(
    wire: bytes, members: Mapping[Subscriber, Member], renderer: Renderer | None
) -> Tailor | None:
    """A :class:`Tailor` for ``wire``, or None if it is the same for every member."""
    if wire[0] != RENDER and wire[0] != ALTERNATIVES:
        return None
    return Tailor(wire, members, renderer)


def viewer_of(member: Member | None) -> str:
    """Who a member renders for: its user, else its session, else "anonymous"."""
    if member is None:
        return "anonymous"
    user, session_key = member.identity
    if user is not None:
        return f"user:{user}"
    if session_key:
        return f"session:{session_key}"
    return "anonymous"


class Tailor:
    """One message as each member gets it, rendered at most once per viewer."""

    __slots__ = ("_prepared", "_rendered", "html", "members", "other", "renderer")

    def __init__(
        self, wire: bytes, members: Mapping[Subscriber, Member], renderer: Renderer | None
    ) -> None:
        self.members = members
        self.renderer = renderer
        if wire[0] == ALTERNATIVES:
            self.html, self.other = split_alternatives(wire)
        else:
            self.html = self.other = wire
        self._prepared: dict[bytes, Callable[[Any], str] | None] = {}
        self._rendered: dict[tuple[bool, str], bytes | None] = {}

    def wire_for(self, ws: Subscriber) -> tuple[str, bytes] | None:
        """``(variant, wire)``: what ``ws`` gets, as a plain wire, and a name for that
        version (frames are cached under it); None when nothing is for it."""
        member = self.members.get(ws)
        html = member is not None and member.html
        wire = self.html if html else self.other
        if not wire:
            return None
        # A render that is the whole message is the same for both kinds of client.
        part = html and self.html is not self.other
        if wire[0] != RENDER:
            return ("html" if part else "other"), wire
        viewer = viewer_of(member)
        key = (part, viewer)
        if key not in self._rendered:
            self._rendered[key] = self._render(wire, ws, viewer)
        text = self._rendered[key]
        if text is None:
            return None
        return f"{'html' if part else 'other'}:{viewer}", text

    def _render(self, wire: bytes, ws: Subscriber, viewer: str) -> bytes | None:
        """Render ``wire`` for ``ws``'s request; on failure log why, and send nothing."""
        if self.renderer is None:
            logger.error(
                "A per-user message reached a member, but nothing renders them here: "
                'add "djws" to INSTALLED_APPS'
            )
            return None
        try:
            if wire not in self._prepared:
                self._prepared[wire] = None  # a failure is logged once per message
                self._prepared[wire] = self.renderer(wire[1:])
            render = self._prepared[wire]
            if render is None:
                return None
            return b"t" + render(ws.request).encode()
        except Exception:
            logger.exception(
                "Could not render a per-user message for %s (%.120r): its connections get nothing",
                viewer if viewer.startswith("user:") else "an anonymous visitor",
                wire[1:],
            )
            return None
