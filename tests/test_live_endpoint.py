"""Signed streams and per-user renders on a real server, with real clients.

The test project's server (``runwebsocket --http``) signs stream names
(``/live/sign/<name>/``, as a page's ``{% live_stream_url %}`` would) and serves
djws's endpoint at ``/live/``. A name with one changed byte is refused with 403
before any 101, over WebSocket and over Server-Sent Events alike; a check of
``WEBSOCKET_STREAM_CHECKS`` refuses others' private streams. Fragments published
per user are rendered once per user, with that user's request, however many
sockets each has; a user's pages get HTML, the user's other clients JSON.
"""

from __future__ import annotations

import contextlib
import http.client
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import ClientConnection, connect

from .support import (
    Server,
    http_get,
    login,
    manage,
    raw_request,
    run_server,
    status_of,
    upgrade_request,
)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server("--http") as server:
        yield server


def get(server: Server, path: str) -> str:
    with urllib.request.urlopen(f"{server.http_url}{path}", timeout=10) as response:
        return response.read().decode()


def signed(server: Server, name: str) -> str:
    return get(server, f"/live/sign/{urllib.parse.quote(name)}/")


def changed(token: str, at: int) -> str:
    """``token`` with the character at ``at`` changed: one byte differs."""
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


def stream_path(token: str, html: bool = True) -> str:
    query = {"stream": token, **({"djws-html": "1"} if html else {})}
    return f"/live/?{urllib.parse.urlencode(query)}"


@contextlib.contextmanager
def listen(server: Server, token: str, session: str | None = None) -> Iterator[ClientConnection]:
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    with connect(
        f"{server.url}{stream_path(token)}", additional_headers=headers, open_timeout=10
    ) as ws:
        yield ws


def sse_status(server: Server, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        body = response.read() if response.status != 200 else response.readline()
        return response.status, body
    finally:
        conn.close()


def render_number(text: str) -> int:
    """Which render of the server process a personal fragment was (``{% render_count %}``)."""
    return int(text.split('data-render="')[1].split('"')[0])


FORBIDDEN = b"Forbidden: a stream name this site did not sign.\n"


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_signed_name_with_one_changed_byte_is_403_before_the_101(
    server: Server, where: str
) -> None:
    token = signed(server, "post:42")
    at = {"start": 0, "middle": len(token) // 2, "end": len(token) - 1}[where]
    tampered = changed(token, at)
    assert tampered != token
    assert len(tampered) == len(token)
    reply = raw_request(server.host, server.port, upgrade_request(stream_path(tampered)))
    assert status_of(reply) == 403, reply[:200]
    assert reply.endswith(b"\r\n\r\n" + FORBIDDEN)
    assert b"101" not in reply.split(b"\r\n", 1)[0]
    assert sse_status(server, stream_path(tampered)) == (403, FORBIDDEN)
    # The name as signed passes both ways.
    reply = raw_request(server.host, server.port, upgrade_request(stream_path(token)))
    assert status_of(reply) == 101
    assert sse_status(server, stream_path(token)) == (200, b"retry: 1000\n")
    server.wait_for_log("Forbidden (a stream name this site did not sign): /live/")


def test_an_expired_name_and_a_missing_one() -> None:
    with run_server("--http", env={"DJWS_TEST_STREAM_MAX_AGE": "0"}) as server:
        token = signed(server, "post:42")
        expected = b"Forbidden: the stream's signature expired (WEBSOCKET_STREAM_MAX_AGE).\n"
        reply = raw_request(server.host, server.port, upgrade_request(stream_path(token)))
        assert (status_of(reply), reply.rsplit(b"\r\n\r\n", 1)[1]) == (403, expected)
        assert sse_status(server, stream_path(token)) == (403, expected)
        reply = raw_request(server.host, server.port, upgrade_request("/live/"))
        assert status_of(reply) == 400


def test_a_check_keeps_private_streams_to_their_user(server: Server) -> None:
    alice = login(server, "alice")
    token = signed(server, "private:alice")
    with listen(server, token, session=alice) as ws:
        ws.send("a message to a listen-only stream")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1003,
        "this stream only sends: post forms to a WebSocket view of your own",
    )
    bob = login(server, "bob")
    request = upgrade_request(stream_path(token), Cookie=f"sessionid={bob}")
    reply = raw_request(server.host, server.port, request)
    assert status_of(reply) == 403
    assert reply.endswith(
        b"Forbidden: stream 'private:alice' refused by WEBSOCKET_STREAM_CHECKS.\n"
    )


def anonymous_session(server: Server) -> str:
    """A session of an anonymous visitor (the home page stores a visit count in it)."""
    _status, cookies, _body = http_get(server, "/")
    return cookies.split("sessionid=", 1)[1].split(";", 1)[0]


def test_per_user_fragments_are_rendered_once_per_user(server: Server) -> None:
    """Each user once; anonymous visitors once per session, and once for all without one."""
    token = signed(server, "personal")
    sessions = {
        "alice": login(server, "alice"),
        "bob": login(server, "bob"),
        "visitor": anonymous_session(server),
        "other visitor": anonymous_session(server),
        "stranger": None,
    }
    counts = {"alice": 5, "bob": 4, "visitor": 2, "other visitor": 2, "stranger": 3}
    with contextlib.ExitStack() as stack:
        sockets = {
            name: [stack.enter_context(listen(server, token, sessions[name])) for _ in range(n)]
            for name, n in counts.items()
        }
        seen: dict[str, list[str]] = {}
        for n in (1, 2):
            get(server, f"/live/personal/personal/?n={n}")
            for name, group in sockets.items():
                seen.setdefault(name, []).extend(ws.recv(timeout=10) for ws in group)
    renders = {}
    for name, texts in seen.items():
        first, second = texts[: counts[name]], texts[counts[name] :]
        assert len(set(first)) == 1, texts  # once per user, the same for every socket
        assert len(set(second)) == 1, texts
        shown = name if name in ("alice", "bob") else "stranger"  # anonymous
        assert f"Hello {shown}: 1</li>" in first[0]
        assert f"Hello {shown}: 2</li>" in second[0]
        renders[name] = [render_number(text) for text in (first[0], second[0])]
    # Five viewers, five renders a publish: the second publish's five follow the first's.
    firsts = sorted(r[0] for r in renders.values())
    seconds = sorted(r[1] for r in renders.values())
    assert firsts == list(range(firsts[0], firsts[0] + 5))
    assert seconds == list(range(firsts[0] + 5, firsts[0] + 10))
    assert seen["alice"][0] == (
        '<turbo-stream action="append" target="messages"><template>'
        f'<li class="personal" data-render="{renders["alice"][0]}">Hello alice: 1</li>\n'
        "</template></turbo-stream>"
    )


def test_a_user_s_pages_get_html_and_other_clients_json(server: Server) -> None:
    carol = login(server, "carol")
    token = signed(server, "anything")
    headers = {"Cookie": f"sessionid={carol}"}
    with (
        listen(server, token, session=carol) as page,
        connect(f"{server.url}/whoami/", additional_headers=headers, open_timeout=10) as app,
    ):
        assert app.recv(timeout=10) == "carol"
        get(server, "/live/notify/carol/?text=export%20%3Cready%3E")
        assert page.recv(timeout=10) == (
            '<turbo-stream action="append" target="notifications"><template>'
            "<li>export &lt;ready&gt;</li></template></turbo-stream>"
        )
        assert app.recv(timeout=10) == '{"notification": "export <ready>"}'
        with pytest.raises(TimeoutError):
            page.recv(timeout=0.3)  # the JSON was not for the page


def test_a_model_saved_when_nothing_can_publish_raises_where_it_was_saved() -> None:
    """broadcasts_to publishes after the commit; a publish that fails is not silent."""
    code = (
        "from testproject.models import Message\n"
        "from djws.broadcast import PublishError\n"
        "try:\n"
        "    Message.objects.create(stream='room', text='hello')\n"
        "except PublishError as exc:\n"
        "    print('PublishError:', exc)\n"
    )
    # local:// with no runwebsocket running: nothing can take the message.
    result = manage("shell", "-v", "0", "-c", code, env={"DJWS_TEST_BROADCAST_URL": "local://"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PublishError: "), result.stdout
    assert "runwebsocket" in result.stdout
