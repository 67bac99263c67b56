"""Sessions that end close their sockets: logout, deletion, expiry, a password change.

A connection belongs to the session and user of its handshake
(:mod:`djws.broadcast.members`). When that session ends, its WebSockets are
closed with :data:`CLOSE_CODE` (3000, IANA's "Unauthorized") and a reason
saying why, and its event streams end -- in every process, through the
broadcast backend (:mod:`djws.broadcast.orders`):

* **logout** (Django's ``user_logged_out``, sent before the session is
  flushed): "logged out";
* **deletion** of a database-backed session (the ``db`` and ``cached_db``
  engines: the session model's ``post_delete``, which ``clearsessions``, the
  admin and ``flush()`` trigger too): "session ended". Django renames a session
  at login and in ``update_session_auth_hash`` (``cycle_key``: a new row, then
  the old one deleted); that is told apart and its connections follow the new key;
* **expiry**: a connection knows when its session expires; at that moment the
  worker's keepalive pass reads the session again -- a request may have extended
  it -- and closes only if it is gone: "session expired";
* a **password change** (a saved user whose password differs from the stored
  one): at the end of the request that changed it (after
  ``update_session_auth_hash`` saved the new hash in that request's session),
  every worker checks the session of each connection of the user, and closes
  those whose stored hash no longer matches: "password changed".

Other engines (cache, file, signed cookies) have no deletion hook: logout,
expiry and password changes are seen, a deletion by other means is not, and a
renamed session's connections are closed as if it had ended (check
``djws.W030``). A connection whose handshake had no session is left alone.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from importlib import import_module
from typing import Any

import gevent
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils.crypto import constant_time_compare

from . import db
from .broadcast.backends import get_backend
from .broadcast.exceptions import PublishError
from .broadcast.hub import hub
from .broadcast.members import Subscriber
from .broadcast.names import session_group, user_group
from .broadcast.orders import CLOSE, RENAME, VERIFY, Order, send_order

__all__ = [
    "CLOSE_CODE",
    "LOGGED_OUT",
    "PASSWORD_CHANGED",
    "SESSION_ENDED",
    "SESSION_EXPIRED",
    "UNREAD",
    "check_expiry",
    "connect",
    "expiry_of",
    "session_model",
    "uses_sessions",
    "verify",
]

logger = logging.getLogger("djws.sessions")

#: The close code of a connection whose session ended (IANA: "Unauthorized").
CLOSE_CODE = 3000
LOGGED_OUT = "logged out"
SESSION_ENDED = "session ended"
SESSION_EXPIRED = "session expired"
PASSWORD_CHANGED = "password changed"  # noqa: S105 - a close reason
#: Seconds between a new session row and the deletion of the old one that make a rename.
_RENAME_WINDOW = 1.0
#: Seconds before a session that could not be read is read again.
_RETRY = 5.0
#: A database-backed session's expiry not read yet (:func:`expiry_of`).
UNREAD = -1.0
READING = -2.0  # a member's expires while its session is being read
# Session key -> the connections whose expiry check_expiry set aside to read at once.
_unread: dict[str, list[Subscriber]] = {}


class _State(threading.local):
    """What one request (one greenlet, or one thread) did to sessions so far."""

    def __init__(self) -> None:
        self.in_request = False
        #: Orders held until the request's session is saved (password changes).
        self.pending: list[Order] = []
        #: The session key the request logged out (closed already: not again on delete).
        self.logged_out: str | None = None
        #: The session row it created last: (key, user id, monotonic time).
        self.created: tuple[str, Any, float] | None = None
        #: Users whose password this request is saving: (model, pk).
        self.passwords: set[tuple[Any, Any]] = set()


_state = _State()


def uses_sessions() -> bool:
    """Tell whether the project has sessions: ``SessionMiddleware`` in ``MIDDLEWARE``."""
    return any(path.endswith(".SessionMiddleware") for path in django_settings.MIDDLEWARE)


def session_model() -> Any:
    """The model of ``SESSION_ENGINE``'s sessions, or None for engines without one."""
    if not apps.is_installed("django.contrib.sessions") and not uses_sessions():
        return None
    try:
        store = import_module(django_settings.SESSION_ENGINE).SessionStore
        get_model = getattr(store, "get_model_class", None)
        return get_model() if get_model is not None else None
    except Exception:  # noqa: BLE001 - no sessions app, a broken engine: no model
        return None


def connect() -> None:
    """Connect the signal receivers that turn the ends of sessions into close orders."""
    user_logged_out.connect(_logged_out, dispatch_uid="djws.sessions")
    model = session_model()
    if model is not None:
        post_save.connect(_session_saved, sender=model, dispatch_uid="djws.sessions")
        post_delete.connect(_session_deleted, sender=model, dispatch_uid="djws.sessions")
    if apps.is_installed("django.contrib.auth"):
        user_model = django_settings.AUTH_USER_MODEL
        pre_save.connect(_user_saving, sender=user_model, dispatch_uid="djws.sessions")
        post_save.connect(_user_saved, sender=user_model, dispatch_uid="djws.sessions")
    request_started.connect(_request_started, dispatch_uid="djws.sessions")
    request_finished.connect(_request_finished, dispatch_uid="djws.sessions")


# Sending orders


def _send(order: Order) -> None:
    """Publish ``order`` now; a failure is logged (the caller's logout still succeeds)."""
    backend = get_backend()
    if not backend.cross_process and not backend.serving:
        return  # memory:// outside a server: no connection can be in this process
    try:
        send_order(dataclasses.replace(order, issued=time.time()))
    except PublishError as exc:
        if isinstance(exc.__cause__, (FileNotFoundError, ConnectionRefusedError)):
            logger.debug("No runwebsocket server, so no socket to close: %s", exc)
            return
        logger.error(
            "Could not close the WebSockets of %s (%s): %s. They stay open; "
            "check WEBSOCKET_BROADCAST_URL's backend.",
            order.target,
            order.reason or order.action,
            exc,
        )


def _send_on_commit(order: Order, using: str | None) -> None:
    transaction.on_commit(lambda: _send(order), using=using)


def _request_started(sender: Any, environ: dict[str, Any] | None = None, **kwargs: Any) -> None:
    environ = environ or {}
    if "djws.upgrade" in environ or "text/event-stream" in environ.get("HTTP_ACCEPT", ""):
        # A WebSocket or event stream request lasts as long as its connection: no
        # order is held for its end, and its greenlet keeps no state of this module
        # for as long as it waits (the state of an earlier request on the same
        # connection was cleared when that one finished).
        return
    state = _state
    state.in_request = True
    state.pending, state.logged_out, state.created = [], None, None


def _request_finished(sender: Any, **kwargs: Any) -> None:
    state = _state
    pending = state.pending
    state.in_request, state.pending, state.logged_out, state.created = False, [], None, None
    for order in pending:
        _send(order)


# Logout, deletion, renaming


def _logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        _state.logged_out = key  # the flush that follows deletes it: one order is enough
        _send(Order(CLOSE, session_group(key), CLOSE_CODE, LOGGED_OUT))


def _user_id(instance: Any) -> Any:
    try:
        return instance.get_decoded().get(SESSION_KEY)
    except Exception:  # noqa: BLE001 - undecodable data belongs to nobody
        return None


def _session_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if created:
        _state.created = (instance.session_key, _user_id(instance), time.monotonic())


def _session_deleted(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
    key, state = instance.session_key, _state
    if state.logged_out == key:
        state.logged_out = None
        return
    created, state.created = state.created, None
    if (
        created is not None
        and created[0] != key
        and time.monotonic() - created[2] < _RENAME_WINDOW
        and created[1] == _user_id(instance)
    ):
        # cycle_key(): the same session under a new key, created just before.
        order = Order(RENAME, session_group(key), to=session_group(created[0]))
    else:
        order = Order(CLOSE, session_group(key), CLOSE_CODE, SESSION_ENDED)
    _send_on_commit(order, using)


# Password changes


def _user_saving(
    sender: Any,
    instance: Any,
    raw: bool = False,
    using: str | None = None,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    if raw or instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and "password" not in update_fields:
        return  # update_last_login() and the like: no query
    stored = (
        sender._default_manager.using(using)
        .filter(pk=instance.pk)
        .values_list("password", flat=True)
        .first()
    )
    if stored is not None and stored != getattr(instance, "password", stored):
        _state.passwords.add((sender, instance.pk))


def _user_saved(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
    if (sender, instance.pk) not in _state.passwords:
        return
    _state.passwords.discard((sender, instance.pk))
    order = Order(VERIFY, user_group(instance.pk), CLOSE_CODE, PASSWORD_CHANGED)

    def send() -> None:
        if _state.in_request:  # after update_session_auth_hash() saved this session's hash
            _state.pending.append(order)
        else:
            _send(order)

    transaction.on_commit(send, using=using)


# The connections' side: in the worker


def expiry_of(request: Any) -> float | None:
    """When the session of ``request`` expires (Unix time); None if it has none.

    For database-backed engines :data:`UNREAD`: the stored expiry is read
    soon after, with those of every other connection opened meanwhile, in one
    query (:func:`check_expiry`), not one query per handshake. For others,
    Django's own reckoning (``get_expiry_date()``).
    """
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not key:
        return None
    if session_model() is None:
        expiry: Any = session.get_expiry_date()  # type: ignore[union-attr]
        return float(expiry.timestamp())
    return UNREAD


def check_expiry(ws: Subscriber) -> float | None:
    """Keepalive: when to look at ``ws``'s session again (Unix time; None: never)."""
    member = hub.members.get(ws)
    if member is None or member.expires is None:
        return None
    now = time.time()
    if member.expires == READING:
        return now + 1.0
    if now < member.expires:  # never so for UNREAD and READING
        return member.expires
    if member.expires == UNREAD:
        if not _unread:  # the first of a batch: read them all once this pass is over
            gevent.spawn_later(0.05, _read_expiries)
        _unread.setdefault(member.identity.session_key or "", []).append(ws)
    else:
        gevent.spawn(_recheck, ws, SESSION_EXPIRED)
    member.expires = READING  # one read at a time
    return now + 1.0


def _read_expiries() -> None:
    """Read the stored expiry of every session :func:`check_expiry` set aside: one query."""
    global _unread
    batch, _unread = _unread, {}
    model = session_model()
    try:
        stored: dict[str, Any] = {}
        keys = list(batch)
        for start in range(0, len(keys), 500):
            found = model._default_manager.filter(session_key__in=keys[start : start + 500])
            stored.update(found.values_list("session_key", "expire_date"))
    except Exception:
        logger.exception("Could not read the expiry of %d sessions; trying again", len(batch))
        for sockets in batch.values():
            for ws in sockets:
                if (member := hub.members.get(ws)) is not None:
                    member.expires = time.time() + _RETRY
        return
    finally:
        db.release_connections()
    now = time.time()
    for key, sockets in batch.items():
        expires = stored.get(key)
        for ws in sockets:
            member = hub.members.get(ws)
            if member is None or ws.closed:
                continue
            if expires is None or expires.timestamp() <= now:  # deleted or expired meanwhile
                ws.close(CLOSE_CODE, SESSION_ENDED if expires is None else SESSION_EXPIRED)
            else:
                member.expires = float(expires.timestamp())


def verify(ws: Subscriber, reason: str) -> None:
    """The hub's verifier (:mod:`djws.broadcast.orders`): check ``ws``'s session again."""
    gevent.spawn(_recheck, ws, reason)


def _recheck(ws: Subscriber, reason: str) -> None:
    member = hub.members.get(ws)
    key = None if member is None else member.identity.session_key
    if member is None or key is None or ws.closed:
        return
    try:
        found = _read(key)
        if found is None:
            ws.close(CLOSE_CODE, SESSION_EXPIRED if reason == SESSION_EXPIRED else SESSION_ENDED)
        elif reason == PASSWORD_CHANGED and not _hash_matches(found[1], member.identity.user):
            ws.close(CLOSE_CODE, PASSWORD_CHANGED)
        else:
            member.expires = found[0]
    except Exception:
        logger.exception("Could not check the session of %r; trying again in %s s", ws, _RETRY)
        member.expires = time.time() + _RETRY
    finally:
        db.release_connections()  # this greenlet's own connections


def _read(key: str) -> tuple[float, dict[str, Any]] | None:
    """The session ``key``'s expiry (Unix time) and data, or None if it is gone or expired."""
    model = session_model()
    if model is not None:
        row = model._default_manager.filter(session_key=key).first()
        if row is None or row.expire_date.timestamp() <= time.time():
            return None
        return float(row.expire_date.timestamp()), row.get_decoded()
    store = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    data = store.load()
    if store.session_key != key or not data:
        return None  # gone, expired, or (the file engine) replaced by a new one
    store._session_cache = data
    return float(store.get_expiry_date().timestamp()), data


def _hash_matches(data: dict[str, Any], pk: Any) -> bool:
    """Tell whether session ``data`` still authenticates user ``pk``, as ``get_user()`` would."""
    if pk is None or str(data.get(SESSION_KEY)) != str(pk):
        return pk is None
    user = get_user_model()._default_manager.filter(pk=pk).first()
    if user is None:
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    stored = data.get(HASH_SESSION_KEY) or ""
    if stored and constant_time_compare(stored, user.get_session_auth_hash()):
        return True
    fallbacks = getattr(user, "get_session_auth_fallback_hash", None)
    return bool(stored and fallbacks and any(constant_time_compare(stored, h) for h in fallbacks()))
