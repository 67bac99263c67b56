"""``local://`` (the default): broadcast on this machine, with nothing else to start.

The development loop is ``runserver`` beside ``runwebsocket``: the page, the
shell, a management command or a Celery worker publish from one process, the
sockets live in another. With ``local://``, the ``runwebsocket`` worker keeps
the groups, their history and their presence in memory (as ``memory://``
does) and listens on a Unix socket in a per-project runtime directory; every
other process of the same project on the same machine publishes through it.

* Publishing while no ``runwebsocket`` runs raises
  :class:`~djws.broadcast.PublishError` saying so -- never a silent success.
* The socket is ``<tmp>/djws-<uid>/<hash of the settings file>.sock``, mode
  0600 in a 0700 directory: only the same user's processes of the same project
  can publish. One worker only, as with ``memory://`` (``djws.E021``).
* A restart of ``runwebsocket`` starts a new epoch: positions from before it
  cannot be resumed (clients are told), as with ``memory://``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import socket
import struct
import tempfile
import threading
from typing import Any

from django.conf import settings as django_settings

from ..exceptions import HistoryError, PresenceError, PublishError
from ..position import Entry, Position, Slice
from .base import Receiver
from .memory import MemoryBackend

__all__ = ["LocalBackend", "socket_path"]

logger = logging.getLogger("djws.broadcast")

_LENGTH = struct.Struct("!I")
_ENTRY = struct.Struct("!QI")


def socket_path() -> str:
    """The Unix socket of this project's ``runwebsocket`` on this machine."""
    module = django_settings.SETTINGS_MODULE or "settings"
    spec = importlib.util.find_spec(module)
    where = spec.origin if spec is not None and spec.origin else os.getcwd()
    digest = hashlib.sha256(f"{module}\0{os.path.realpath(where)}".encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"djws-{os.getuid()}", f"{digest}.sock")


def _pack(*parts: bytes) -> bytes:
    return b"".join(_LENGTH.pack(len(part)) + part for part in parts)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the runwebsocket server closed the connection")
        data += chunk
    return data


def _recv_part(sock: socket.socket) -> bytes:
    (size,) = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
    return _recv_exactly(sock, size)


class LocalBackend(MemoryBackend):
    """In the serving worker: ``memory://`` plus a Unix socket; elsewhere: a client of it."""

    cross_process = True

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = socket_path()
        self._server: Any = None
        self._client: socket.socket | None = None
        self._lock = threading.Lock()

    # In the worker

    def start_serving(self, receiver: Receiver) -> None:
        """Deliver to ``receiver``, and listen for the other processes of this project."""
        super().start_serving(receiver)
        if self._server is not None:
            return
        from gevent.server import StreamServer

        directory = os.path.dirname(self.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a server that died left it behind
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(128)
        self._server = StreamServer(listener, self._handle)
        self._server.start()
        logger.info("Broadcast: this machine's processes publish through %s", self.path)

    def _handle(self, sock: socket.socket, address: Any) -> None:
        try:
            while True:
                try:
                    command = _recv_part(sock)
                except ConnectionError:
                    return
                sock.sendall(self._answer(command, sock))
        except Exception:
            logger.exception("Broadcast: a local publisher's request failed")
        finally:
            sock.close()

    def _answer(self, command: bytes, sock: socket.socket) -> bytes:
        group = _recv_part(sock).decode()
        if command == b"publish":
            position = self.publish(group, _recv_part(sock))
            return _pack(b"ok", str(position).encode())
        if command == b"read":
            history = self.read(group, int(_recv_part(sock)))
            entries = b"".join(_ENTRY.pack(e.offset, len(e.wire)) + e.wire for e in history.entries)
            return _pack(b"ok", str(history.position).encode(), entries)
        if command == b"presence":
            return _pack(b"ok", json.dumps(self.presence(group)).encode())
        return _pack(b"error", b"unknown command")

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        if self._client is not None:
            self._client.close()
            self._client = None

    # Anywhere

    def publish(self, group: str, wire: bytes) -> Position:
        if self.serving:
            return super().publish(group, wire)
        reply = self._ask(b"publish", group, wire, failure=f"could not publish to {group!r}")
        return Position.parse(reply[0].decode())

    def read(self, group: str, after: int) -> Slice:
        if self.serving:
            return super().read(group, after)
        position_text, entries = self._ask(
            b"read", group, str(after).encode(), failure=f"could not read the history of {group!r}"
        )
        position = Position.parse(position_text.decode())
        found, pos = [], 0
        while pos < len(entries):
            offset, size = _ENTRY.unpack_from(entries, pos)
            pos += _ENTRY.size
            found.append(Entry(offset, entries[pos : pos + size]))
            pos += size
        return Slice(position.epoch, position.offset, found)

    def presence(self, group: str) -> list[dict[str, Any]]:
        if self.serving:
            return super().presence(group)
        (entries,) = self._ask(b"presence", group, failure=f"could not read presence of {group!r}")
        result: list[dict[str, Any]] = json.loads(entries)
        return result

    def _ask(self, command: bytes, group: str, *args: bytes, failure: str) -> list[bytes]:
        error = {b"publish": PublishError, b"read": HistoryError}.get(command, PresenceError)
        request = _pack(command, group.encode(), *args)
        with self._lock:
            try:
                sock = self._send(request)
                status = _recv_part(sock)
                if status != b"ok":
                    raise error(f"{failure}: the runwebsocket server refused it")
                return [_recv_part(sock) for _ in range(2 if command == b"read" else 1)]
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                self._drop()
                raise error(
                    f"{failure}: no runwebsocket server is running for this project "
                    f"(nothing listens on {self.path}). Start `python manage.py "
                    "runwebsocket`, or set WEBSOCKET_BROADCAST_URL to a shared backend "
                    "(redis://, postgresql://) to publish while none runs."
                ) from exc
            except OSError as exc:
                self._drop()
                raise error(f"{failure}: the runwebsocket server failed: {exc}") from exc

    def _send(self, request: bytes) -> socket.socket:
        """Send on the kept connection; on a fresh one if the server restarted since."""
        sock = self._connect()
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            # The server went away (an autoreload): nothing of the request was read.
            self._drop()
            sock = self._connect()
            sock.sendall(request)
        return sock

    def _connect(self) -> socket.socket:
        if self._client is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                raise
            self._client = sock
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
