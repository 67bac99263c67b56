"""The documented deployments, run for real: nginx in front of two ports, and a Procfile.

nginx is Debian's, started as the current user with everything (pid file, logs,
temporary files) in a temporary directory, in front of ``runserver`` (HTTP) and
``runwebsocket`` (WebSockets). Its site configuration is the file the how-to
shows, ``docs/howto/nginx.conf``, with only ports and paths substituted.

The Procfile test runs the ``web:`` line of ``sample_site/Procfile`` -- the line
the Procfile how-to includes -- with ``$PORT`` set, as a platform would.
"""

from __future__ import annotations

import grp
import http.client
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .support import (
    Events,
    Server,
    free_port,
    project_env,
    run_server,
    start_server,
    wait_for,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "docs" / "howto" / "nginx.conf"
PROCFILE = ROOT / "sample_site" / "Procfile"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(autouse=True)
def nginx_installed() -> None:
    """Fail, never skip, without nginx: ./runtests.sh installs it (apt-get install nginx)."""
    if not os.access(NGINX, os.X_OK):
        pytest.fail("these tests need Debian's nginx: apt-get install nginx")


# Workers run as the current user (nginx started as root would otherwise switch
# them to "nobody", who cannot read the test's private temporary directory).
MAIN_CONF = """\
daemon off;
user {user} {group};
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
"""


def substitute(text: str, old: str, new: str) -> str:
    """Replace ``old``, which must occur exactly once: the documented file must not drift."""
    assert text.count(old) == 1, f"{NGINX_CONF.name} should contain {old!r} exactly once"
    return text.replace(old, new)


def site_config(http_port: int, websocket_port: int, nginx_port: int, static: Path) -> str:
    """The documented configuration, on this test's ports and paths."""
    text = NGINX_CONF.read_text()
    text = substitute(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{http_port};")
    text = substitute(text, "server 127.0.0.1:8001;", f"server 127.0.0.1:{websocket_port};")
    text = substitute(text, "listen 80;", f"listen 127.0.0.1:{nginx_port};")
    return substitute(text, "alias /srv/example/static/;", f"alias {static}/;")


@dataclass
class Site:
    port: int
    websocket_server: Server
    nginx_dir: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """nginx on the documented configuration, before runserver and runwebsocket."""
    tmp = tmp_path_factory.mktemp("nginx")
    static = tmp / "static"
    static.mkdir()
    (static / "hello.txt").write_text("static hello\n")
    http_port, nginx_port = free_port(), free_port()
    with run_server() as websocket_server:
        http_server = start_server(
            "--noreload",
            "--skip-checks",
            f"127.0.0.1:{http_port}",
            command=[sys.executable, "manage.py", "runserver"],
        )
        try:
            (tmp / "site.conf").write_text(
                site_config(http_port, websocket_server.port, nginx_port, static)
            )
            (tmp / "nginx.conf").write_text(
                MAIN_CONF.format(
                    tmp=tmp,
                    user=pwd.getpwuid(os.getuid()).pw_name,
                    group=grp.getgrgid(os.getgid()).gr_name,
                )
            )
            test = subprocess.run(
                [
                    NGINX,
                    "-t",
                    "-p",
                    str(tmp),
                    "-e",
                    str(tmp / "error.log"),
                    "-c",
                    str(tmp / "nginx.conf"),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert test.returncode == 0, test.stderr
            nginx = subprocess.Popen(
                [
                    NGINX,
                    "-p",
                    str(tmp),
                    "-e",
                    str(tmp / "error.log"),
                    "-c",
                    str(tmp / "nginx.conf"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                wait_for_port("127.0.0.1", nginx_port)
                yield Site(nginx_port, websocket_server, tmp)
            finally:
                nginx.send_signal(signal.SIGTERM)  # fast shutdown, by PID
                try:
                    nginx.wait(15)
                except subprocess.TimeoutExpired:
                    nginx.kill()
                    nginx.wait()
        finally:
            http_server.stop()


def test_pages_are_served_by_the_http_server(site: Site) -> None:
    response = site.get("/")
    assert response.status == 200
    assert response.body == b"home visits=1"  # type: ignore[attr-defined]


def test_static_files_are_served_by_nginx(site: Site) -> None:
    response = site.get("/static/hello.txt")
    assert response.status == 200
    assert response.body == b"static hello\n"  # type: ignore[attr-defined]


def test_websocket_echo_through_nginx(site: Site) -> None:
    with connect(f"{site.ws_url}/echo/", open_timeout=10) as ws:
        ws.send("through nginx")
        assert ws.recv(timeout=10) == "through nginx"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=10) == b"\x00\x01"


def test_unknown_websocket_route_is_djws_404_through_nginx(site: Site) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{site.ws_url}/no-such-route/", open_timeout=10)
    response = refused.value.response
    assert response.status_code == 404
    # Django's page, resolved against WEBSOCKET_URLCONF: it came from runwebsocket.
    assert b"testproject.websocket_urls" in response.body


def test_same_path_without_upgrade_goes_to_the_http_server(site: Site) -> None:
    response = site.get("/echo/")
    assert response.status == 404
    assert b"testproject.urls" in response.body  # type: ignore[attr-defined]


def test_login_over_http_is_seen_by_the_websocket(site: Site) -> None:
    response = site.get("/login/nginx-user/")
    assert response.status == 200
    cookies = [
        value.split(";", 1)[0]
        for name, value in response.getheaders()
        if name.lower() == "set-cookie" and value.startswith("sessionid=")
    ]
    assert len(cookies) == 1
    cookie = cookies[0]
    with connect(
        f"{site.ws_url}/whoami/",
        additional_headers={"Cookie": cookie},
        origin=f"http://127.0.0.1:{site.port}",
        open_timeout=10,
    ) as ws:
        assert ws.recv(timeout=10) == "nginx-user"


def publish_through_nginx(site: Site, group: str, text: str) -> str:
    """Publish ``text`` to ``group`` from a WebSocket through nginx; return its position."""
    with connect(f"{site.ws_url}/broadcast/member/{group}-publisher/", open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "joined"
        ws.send(f"publish-position-to {group} {text}")
        reply = ws.recv(timeout=10)
    assert isinstance(reply, str)
    assert reply.startswith("position "), reply
    return reply.removeprefix("position ")


def test_event_stream_through_nginx_reaches_runwebsocket(site: Site) -> None:
    through_nginx = Server(site.websocket_server.process, site.port)  # nginx's address
    events = Events(through_nginx, "/events/n-sse/")
    try:
        assert events.response.status == 200
        assert events.response.getheader("Content-Type") == "text/event-stream"
        assert events.next() == {"retry": "1000"}
        position = publish_through_nginx(site, "n-sse", "through nginx")
        # Not buffered by nginx (X-Accel-Buffering: no): the event comes at once.
        last = events.next()
        assert last == {"id": f"n-sse={position}", "data": "through nginx"}
    finally:
        events.close()
    missed = publish_through_nginx(site, "n-sse", "while away")
    events = Events(through_nginx, "/events/n-sse/", {"Last-Event-ID": last["id"]})
    try:
        events.next()
        assert events.next() == {"id": f"n-sse={missed}", "data": "while away"}
    finally:
        events.close()


def test_an_unknown_event_stream_is_runwebsockets_404(site: Site) -> None:
    response = site.get("/no-such-stream/", {"Accept": "text/event-stream"})
    assert response.status == 404
    assert b"testproject.websocket_urls" in response.body  # type: ignore[attr-defined]


def test_foreign_origin_is_refused_through_nginx(site: Site) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{site.ws_url}/echo/", origin="https://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403


def procfile_command() -> str:
    """The ``web:`` line of the sample site's Procfile."""
    lines = [line for line in PROCFILE.read_text().splitlines() if line.startswith("web:")]
    assert len(lines) == 1, f"{PROCFILE} should have one web: line"
    return lines[0].removeprefix("web:").strip()


def listening(port: int, process: subprocess.Popen[str]) -> bool:
    """Tell whether ``port`` accepts connections; fail at once if ``process`` exited."""
    assert process.poll() is None, f"the process exited with {process.returncode}"
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return True


def test_procfile_line_serves_pages_and_websockets_on_port(tmp_path: Path) -> None:
    port = free_port()
    env = project_env(
        PORT=str(port),
        SAMPLE_SITE_DATABASE=str(tmp_path / "site.sqlite3"),
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # A platform puts the app's own Python first on PATH; so does this test.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    command = procfile_command()
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=ROOT / "sample_site",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        try:
            wait_for(
                lambda: listening(port, process),
                60,
                f"{command!r} listening on $PORT",
                interval=0.1,
                ignoring=(OSError,),
            )
        except AssertionError as exc:
            process.kill()
            output = process.communicate()[0]
            raise AssertionError(f"{command!r} did not listen on $PORT:\n{output}") from exc
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert b"<html" in response.read().lower()
        conn.close()
        with connect(f"ws://127.0.0.1:{port}/ws/echo/", open_timeout=10) as ws:
            ws.send("procfile")
            assert ws.recv(timeout=10) == "procfile"
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{port}/ws/no-such-route/", open_timeout=10)
        assert refused.value.response.status_code == 404
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
    # exec replaced the shell: SIGTERM reached the server, which stopped cleanly.
    assert process.returncode == 0, output
    assert (tmp_path / "site.sqlite3").exists()  # the migrate half of the line ran
