"""``manage.py runwebsocket``: options, errors, banner, checks, signals."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest
from websockets.asyncio.client import connect as asyncio_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .support import (
    PROJECT,
    Server,
    children,
    free_port,
    is_alive,
    manage,
    project_env,
    run_server,
    start_server,
    wait_for,
)


def test_banner_names_versions_settings_and_url() -> None:
    with run_server() as server:
        log = server.log()
    assert "System check identified no issues" in log
    assert f"Django version {django.get_version()}," in log
    assert "using settings 'testproject.settings'" in log
    assert f"Starting djws WebSocket server at ws://127.0.0.1:{server.port}/" in log


@pytest.mark.parametrize(
    ("addrport", "error"),
    [
        ("abc", 'CommandError: "abc" is not a valid port number or address:port pair.'),
        ("127.0.0.1:http", 'CommandError: "127.0.0.1:http" is not a valid port number'),
        ("70000", "CommandError: '70000' is not a valid port number."),
        # A well-formed name that does not resolve: reported as runserver reports it.
        ("1.2.3.4.5:80", "Error: [Errno -2] Name or service not known"),
    ],
)
def test_bad_address_is_one_line_and_status_1(addrport: str, error: str) -> None:
    result = manage("runwebsocket", "--noreload", addrport)
    assert result.returncode == 1
    assert result.stderr.startswith(error)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("reload", [False, True], ids=["noreload", "autoreload"])
def test_busy_port_is_runservers_one_line_and_status_1(reload: bool) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["runwebsocket", f"127.0.0.1:{port}"]
        result = manage(*args if reload else [*args, "--noreload"])
    assert result.returncode == 1
    # Under the autoreloader, Django says first that it watches files.
    assert result.stderr.splitlines()[-1:] == ["Error: That port is already in use."]
    assert "Traceback" not in result.stderr


def test_port_environment_variable_is_honoured() -> None:
    port = free_port()
    with run_server(
        "--noreload", command=[sys.executable, "manage.py", "runwebsocket"], env={"PORT": str(port)}
    ) as server:
        assert server.port == port
        assert f"ws://0.0.0.0:{port}/" in server.log()
        with connect(f"ws://127.0.0.1:{port}/echo/") as ws:
            ws.send("procfile")
            assert ws.recv(timeout=5) == "procfile"


def test_ipv6_address() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with run_server("[::1]:0") as server, connect(f"ws://[::1]:{server.port}/echo/") as ws:
        ws.send("v6")
        assert ws.recv(timeout=5) == "v6"


def test_missing_websocket_urlconf_is_a_system_check_error() -> None:
    result = manage(
        "runwebsocket", "--noreload", "127.0.0.1:0", env={"DJWS_TEST_WEBSOCKET_URLCONF": "-"}
    )
    assert result.returncode == 1
    assert "djws.E002" in result.stderr or "djws.E001" in result.stderr
    assert "Traceback" not in result.stderr


def test_unset_websocket_urlconf_is_e001() -> None:
    result = manage("check", env={"DJWS_TEST_WEBSOCKET_URLCONF": "none"})
    assert result.returncode == 1
    assert "(djws.E001) WEBSOCKET_URLCONF is not set." in result.stderr


def test_broken_websocket_urlconf_is_e002_naming_the_error() -> None:
    result = manage(
        "runwebsocket",
        "--noreload",
        "127.0.0.1:0",
        env={"DJWS_TEST_WEBSOCKET_URLCONF": "testproject.broken_urls"},
    )
    assert result.returncode == 1
    assert "(djws.E002) WEBSOCKET_URLCONF 'testproject.broken_urls' cannot be imported" in (
        result.stderr
    )
    assert "ModuleNotFoundError" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_servers_side_by_side() -> None:
    with run_server() as first, run_server() as second:
        for server in (first, second):
            with connect(f"{server.url}/echo/") as ws:
                ws.send(f"to {server.port}")
                assert ws.recv(timeout=5) == f"to {server.port}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_sends_1001_to_every_socket_within_a_second(sig: int) -> None:
    server = start_server()
    try:
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(f"{server.url}/echo/")) for _ in range(5)]
            for ws in sockets:
                ws.send("ready")
                assert ws.recv(timeout=5) == "ready"
            started = time.monotonic()
            server.process.send_signal(sig)
            for ws in sockets:
                with pytest.raises(ConnectionClosed) as info:
                    ws.recv(timeout=5)
                assert info.value.rcvd.code == 1001
                assert info.value.rcvd.reason == "server shutting down"
            assert time.monotonic() - started < 1.0
        server.process.wait(timeout=10)
    finally:
        server.stop()


WSGI_APP = "testproject.wsgi:websocket"


def gunicorn_with_djws_worker(port: int, *options: str) -> list[str]:
    """``gunicorn -k djws.worker.WebSocketWorker`` serving the test project on ``port``."""
    worker = ["-k", "djws.worker.WebSocketWorker", "--no-control-socket", *options]
    return [sys.executable, "-m", "gunicorn", *worker, "-b", f"127.0.0.1:{port}", WSGI_APP]


def test_gunicorn_command_line_with_the_djws_worker() -> None:
    port = free_port()
    options = ("--worker-connections", "10000", "--log-level", "info")
    server = start_server(command=gunicorn_with_djws_worker(port, *options))
    try:
        assert server.port == port
        with connect(f"ws://127.0.0.1:{port}/stamp/") as ws:
            assert ws.recv(timeout=10) == "stamped"
    finally:
        server.stop()


def test_a_logging_config_gets_the_connection_lines_too(tmp_path) -> None:
    """With --log-config-json (and no --access-logfile) gunicorn writes its access lines
    through that configuration; each connection's closing line goes the same way."""
    port = free_port()
    config = tmp_path / "logging.json"
    config.write_text('{"version": 1}')  # gunicorn's defaults: access lines to stdout
    server = start_server(command=gunicorn_with_djws_worker(port, "--log-config-json", str(config)))
    try:
        with connect(f"ws://127.0.0.1:{port}/echo/") as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "hello"
        server.wait_for_log('"/echo/" WebSocket closed 1000 after')
        line = r'"/echo/" WebSocket closed 1000 after [\d.]+ s: in 1 messages \d+ B, out 1 '
        assert re.search(line, server.log()), server.log()
    finally:
        server.stop()


def test_gunicorn_preload_is_refused_with_a_reason() -> None:
    port = free_port()
    result = subprocess.run(
        gunicorn_with_djws_worker(port, "--preload"),
        cwd=PROJECT,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "django.db was imported before gevent patched this process" in result.stderr
    assert "do not use --preload" in result.stderr


def test_tls_serves_wss(tmp_path) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(cafile=str(cert))

    # websockets' asyncio client: its sync client reads in a second thread, which
    # can handle TLS 1.3's session tickets while the first writes the request, and
    # an OpenSSL connection is not safe for two threads (8 handshakes in 2,400
    # lost their request, with the other core busy).
    async def echo_then_close(port: int) -> tuple[str | bytes, float, int | None]:
        url = f"wss://127.0.0.1:{port}/echo/"
        async with asyncio_connect(url, ssl=context, close_timeout=10) as ws:
            await ws.send("secret")
            echoed = await asyncio.wait_for(ws.recv(), 5)
            started = time.monotonic()
            await ws.close()
            return echoed, time.monotonic() - started, ws.close_code

    async def closed_by_the_view(port: int) -> tuple[int | None, str | None, float]:
        url = f"wss://127.0.0.1:{port}/close/4001/?reason=bye"
        async with asyncio_connect(url, ssl=context, close_timeout=10) as ws:
            started = time.monotonic()
            await ws.wait_closed()
            return ws.close_code, ws.close_reason, time.monotonic() - started

    with run_server("--certfile", str(cert), "--keyfile", str(key)) as server:
        assert f"wss://127.0.0.1:{server.port}/" in server.log()
        echoed, closing, code = asyncio.run(echo_then_close(server.port))
        assert (echoed, code) == ("secret", 1000)
        # TLS has no half-close: the server drops TLS and sends FIN after the
        # closing handshake rather than leave the client to wait out its close
        # timeout (10 s here; WEBSOCKET_CLOSE_TIMEOUT's 5 s on the server).
        assert closing < 2, closing
        server.wait_for_log('"/echo/" WebSocket closed 1000 after')
        code, reason, closing = asyncio.run(closed_by_the_view(server.port))
        assert (code, reason) == (4001, "bye")
        assert closing < 2, closing


def test_certfile_without_keyfile_is_refused() -> None:
    result = manage("runwebsocket", "--noreload", "--certfile", "x.pem")
    assert result.returncode == 1
    assert (
        result.stderr
        == "CommandError: --certfile and --keyfile go together: give both or neither.\n"
    )


def test_server_fixture_is_alive(server: Server) -> None:
    with connect(f"{server.url}/echo/") as ws:
        ws.send("ok")
        assert ws.recv(timeout=5) == "ok"


def worker_pids(server: Server) -> set[str]:
    return set(re.findall(r"Booting worker with pid: (\d+)", server.log()))


def test_sighup_replaces_workers_and_keeps_serving() -> None:
    with run_server("-v", "2") as server:
        server.wait_for_log("Booting worker with pid")
        before = worker_pids(server)
        assert len(before) == 1
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(worker_pids(server)) >= 2, 15, "a new worker booting", interval=0.1)
        assert len(worker_pids(server) - before) == 1
        # Until the new worker accepts, the old one still does, and then closes what it
        # holds with 1001 (the next test): the new one alone serves once the old is gone.
        old = int(next(iter(before)))
        wait_for(lambda: not is_alive(old), 15, f"the old worker {old} exiting")
        for _ in range(4):
            with connect(f"{server.url}/echo/") as ws:
                ws.send("after HUP")
                assert ws.recv(timeout=5) == "after HUP"


def test_sighup_keeps_the_old_worker_serving_until_the_new_one_accepts() -> None:
    """No moment without a worker that accepts: the old one serves while the new one
    loads the application (made to take 2 s), says 1001 only when the new one serves,
    and a client that reconnects then is answered at once."""
    with (
        run_server(env={"DJWS_TEST_SLOW_START": "2"}) as server,
        connect(f"{server.url}/echo/") as old,
    ):
        server.process.send_signal(signal.SIGHUP)
        signalled = time.monotonic()
        wait_for(
            lambda: len(children(server.process.pid)) == 2,
            10,
            "the new worker starting, next to the old one (it loads the application for 2 s)",
        )
        old.send("still served")
        assert old.recv(timeout=10) == "still served"
        with pytest.raises(ConnectionClosed):
            old.recv(timeout=60)  # the old worker's 1001, once the new one serves
        closed = time.monotonic()
        assert old.close_code == 1001
        with connect(f"{server.url}/echo/", open_timeout=10) as ws:
            ws.send("at once")
            assert ws.recv(timeout=10) == "at once"
        answered = time.monotonic()
    assert closed - signalled > 2.0
    assert answered - closed < 1.0, f"the next handshake took {answered - closed:.2f} s"


def test_psycopg_imported_before_the_patch_is_refused(tmp_path) -> None:
    config = tmp_path / "gunicorn.conf.py"
    config.write_text("import psycopg  # imported by the arbiter, before any patching\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(config),
            "-k",
            "djws.worker.WebSocketWorker",
            "--no-control-socket",
            "-b",
            f"127.0.0.1:{free_port()}",
            "testproject.wsgi:websocket",
        ],
        cwd=PROJECT,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "psycopg was imported before gevent patched this process" in result.stderr


def test_handshakes_during_shutdown_are_refused_so_shutdown_stays_fast() -> None:
    server = start_server()
    try:
        with connect(f"{server.url}/echo/") as ws:
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
        # A client that reconnects at once (as djws.js does) is turned away, not kept.
        statuses = []

        def reconnected_until_the_server_exits() -> bool:
            if server.process.poll() is not None:
                return True
            try:
                with connect(f"{server.url}/echo/", open_timeout=1) as again:
                    statuses.append(101)
                    with pytest.raises(ConnectionClosed) as info:
                        again.recv(timeout=5)
                    assert info.value.rcvd.code == 1001
            except ConnectionClosed:
                pass
            except Exception as exc:  # noqa: BLE001 - refused with 503, or port closed
                statuses.append(getattr(getattr(exc, "response", None), "status_code", None))
            return False

        wait_for(
            reconnected_until_the_server_exits,
            5,
            lambda: f"the server exiting (handshakes meanwhile: {statuses})",
        )
        assert server.process.wait(timeout=10) is not None
        assert time.monotonic() - started < 4, f"shutdown took too long: {statuses}"
    finally:
        server.stop()


def listen_queue(port: int) -> str:
    """The backlog of the socket listening on ``port`` (``ss`` shows it as Send-Q)."""
    result = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.split()[2]


def test_backlog_sets_the_listen_queue() -> None:
    with run_server("--backlog", "123") as server:
        assert listen_queue(server.port) == "123"


def test_the_listen_queue_holds_what_the_kernel_allows_by_default() -> None:
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    with run_server() as server:
        assert listen_queue(server.port) == str(somaxconn)
        log = server.log()
    assert "net.core.somaxconn" not in log


def test_a_backlog_the_kernel_caps_is_a_warning_naming_the_sysctl() -> None:
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    backlog = somaxconn + 1
    with run_server("--backlog", str(backlog)) as server:
        assert listen_queue(server.port) == str(somaxconn)
        log = server.log()
    assert (
        f"--backlog {backlog} is above net.core.somaxconn ({somaxconn}): the kernel queues "
        f"{somaxconn} connections, and a reconnection storm larger than that is delayed and "
        f"reset. To queue {backlog}: sysctl -w net.core.somaxconn={backlog}\n"
    ) in log


@pytest.mark.parametrize("value", ["nonsense", "70000", "1.2.3.4:", "::1:9108"])
def test_a_bad_metrics_address_is_one_line_and_status_1(value: str) -> None:
    result = manage("runwebsocket", "--noreload", "--metrics", value)
    assert result.returncode == 1
    assert result.stderr == (
        f"CommandError: --metrics {value!r}: give an address of their own, such as "
        "127.0.0.1:9108 or 9108, or a path of the WebSocket port, such as /metrics.\n"
    )
