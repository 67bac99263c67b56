"""Django's test client, which can also open WebSockets: :class:`WebSocketClient`."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.test import Client

from ..broadcast.backends import backends
from ..broadcast.hub import hub
from ..conf import require_app
from .connection import HandshakeRefused, TestWebSocket
from .eventstream import TestEventStream

__all__ = ["WebSocketClient"]


class WebSocketClient(Client):
    """Django's test client, which can also open WebSockets to ``WEBSOCKET_URLCONF`` views.

    And event streams: :meth:`event_stream` opens an ``@event_stream`` view of
    ``WEBSOCKET_URLCONF`` as a browser's ``EventSource`` would.

    Log in as you would with :class:`django.test.Client` (``force_login()``,
    ``login()``, or an HTTP view that logs in): the WebSocket handshake sends
    the client's cookies, so ``request.user`` and ``request.session`` in the
    view are the logged-in user's.

    ``raise_request_exception`` (default True) works as in Django's client: an
    exception raised by the view is re-raised in the test when it next waits on
    the connection. Pass False to test the 1011 close the client would see. An
    exception out of djws's server itself fails the test when the connection closes.
    ``websocket_timeout`` bounds every wait, in seconds.
    """

    def __init__(self, *args: Any, websocket_timeout: float = 5.0, **kwargs: Any) -> None:
        require_app("djws.test.WebSocketClient")
        super().__init__(*args, **kwargs)
        self.websocket_timeout = websocket_timeout
        # This process serves WebSocket views now, and broadcasts stay in it,
        # whatever WEBSOCKET_BROADCAST_URL says (docs/howto/testing.rst).
        backends.serve(hub, in_process=True)

    def connect(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        subprotocols: Sequence[str] | None = None,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        compression: bool = False,
        timeout: float | None = None,
    ) -> TestWebSocket:
        """Open a WebSocket to ``path`` and return it once the view accepted.

        ``data`` becomes the query string, as for :meth:`~django.test.Client.get`.
        ``subprotocols`` are offered in order; ``origin`` is sent as the
        ``Origin`` header (none by default, like a non-browser client);
        ``compression`` offers permessage-deflate. Raise
        :exc:`HandshakeRefused` if the server answers with an HTTP response
        instead (404, 403, a login redirect...).
        """
        if data:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(data, doseq=True)}"
        ws = TestWebSocket(self, path, self.websocket_timeout if timeout is None else timeout)
        ws._open(
            subprotocols=subprotocols,
            origin=origin,
            headers={**self._handshake_headers(), **(headers or {})},
            compression=compression,
        )
        return ws

    def event_stream(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        last_event_id: str | None = None,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> TestEventStream:
        """Open the ``@event_stream`` view at ``path`` and return the stream once it answered.

        ``data`` becomes the query string; ``last_event_id`` is sent as
        ``Last-Event-ID`` (a reconnecting browser's resume point), ``origin`` as
        ``Origin``. The request carries this client's cookies and is resolved
        against ``WEBSOCKET_URLCONF``, as ``runwebsocket`` does. Raise
        :exc:`~djws.test.EventStreamRefused` if the answer is not a stream (a
        404, a 403, a login redirect).
        """
        if data:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(data, doseq=True)}"
        sent = {**self._handshake_headers(), "Accept": "text/event-stream", **(headers or {})}
        if last_event_id is not None:
            sent["Last-Event-ID"] = last_event_id
        if origin is not None:
            sent["Origin"] = origin
        timeout = self.websocket_timeout if timeout is None else timeout
        stream = TestEventStream(self, path, timeout, sent)
        stream._open()
        return stream

    def assert_refused(
        self, path: str, status_code: int | None = None, **kwargs: Any
    ) -> HttpResponse:
        """Open ``path`` expecting an HTTP refusal; return the response.

        Fail if the view accepted the WebSocket, or if ``status_code`` is given
        and the refusal has another status. Takes :meth:`connect`'s arguments.
        """
        try:
            ws = self.connect(path, **kwargs)
        except HandshakeRefused as refused:
            response = refused.response
        else:
            ws.close()
            raise AssertionError(f"expected the WebSocket handshake to {path} to be refused")
        if status_code is not None and response.status_code != status_code:
            phrase = HTTPStatus(status_code).phrase
            raise AssertionError(
                f"expected the handshake to {path} to be refused with {status_code} "
                f"{phrase}, got {response.status_code} {response.reason_phrase}"
            )
        return response

    def _handshake_headers(self) -> dict[str, str]:
        """The cookies and default headers this client sends with every request."""
        headers: dict[str, str] = {}
        for key, value in self.defaults.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").title()] = str(value)
        headers.update(getattr(self, "headers", None) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(
                sorted(f"{morsel.key}={morsel.coded_value}" for morsel in self.cookies.values())
            )
        return headers
