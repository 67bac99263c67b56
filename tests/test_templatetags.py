"""``{% websocket_url %}``, ``{% event_stream_url %}`` and ``djws.reverse``: absolute URLs of views.

Most tests render templates in this process with requests built the way each
deployment shape builds them; the last ones fetch real pages of the sample site
from real ``runserver`` and ``runwebsocket --http`` processes.
"""

from __future__ import annotations

import html
import re
import sys
import urllib.request
from collections.abc import Iterator
from types import ModuleType

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.template import Context, Engine, RequestContext, TemplateSyntaxError
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, path

from djws.reverse import event_stream_url, reverse_websocket, websocket_server_url, websocket_url

from .support import SAMPLE_SITE, Server, free_port, manage, run_server


def view(request, **kwargs):
    return HttpResponse()


#: The WEBSOCKET_URLCONF of the in-process tests (a urlconf may be any object
#: with urlpatterns, as for request.urlconf).
websocket_urls = ModuleType("websocket_urls")
websocket_urls.urlpatterns = [
    path("echo/", view, name="echo"),
    path("rooms/<slug:room>/<int:page>/", view, name="room"),
    path("search/<str:query>/", view, name="search"),
]

# This module is the ROOT_URLCONF: the pages' urls, where WebSocket names are not.
urlpatterns = [path("page/", view, name="page")]

pytestmark = pytest.mark.usefixtures("websocket_settings")


@pytest.fixture
def websocket_settings() -> Iterator[None]:
    with override_settings(
        DEBUG=False,
        ROOT_URLCONF=__name__,
        WEBSOCKET_URLCONF=websocket_urls,
        WEBSOCKET_SERVER_URL=None,
        ALLOWED_HOSTS=[".example.com", "127.0.0.1", "[::1]"],
        SECURE_PROXY_SSL_HEADER=None,
    ):
        yield


ENGINE = Engine(libraries={"websockets": "djws.templatetags.websockets"})
factory = RequestFactory()


def page_request(
    host: str = "example.com:8000", *, secure: bool = False, djws_server: bool = False, **extra
):
    """A request for a page, as runserver (or, with ``djws_server``, runwebsocket) builds it."""
    if djws_server:
        extra["djws.server"] = True
    return factory.get("/page/", HTTP_HOST=host, secure=secure, **extra)


def render(source: str, request=None, **context) -> str:
    template = ENGINE.from_string("{% load websockets %}" + source)
    if request is None:
        return template.render(Context(context))
    return template.render(RequestContext(request, context))


# The two deployment shapes


@pytest.mark.fast
def test_page_from_runserver_points_at_its_host_on_port_8001():
    assert render("{% websocket_url 'echo' %}", page_request()) == "ws://example.com:8001/echo/"


@pytest.mark.fast
def test_page_from_a_djws_server_points_at_its_own_origin():
    request = page_request(djws_server=True)
    assert render("{% websocket_url 'echo' %}", request) == "ws://example.com:8000/echo/"


@pytest.mark.fast
def test_page_from_a_djws_server_on_the_default_port_has_no_port():
    request = page_request("example.com", djws_server=True)
    assert render("{% websocket_url 'echo' %}", request) == "ws://example.com/echo/"


@pytest.mark.fast
def test_ipv6_page_host_keeps_its_brackets():
    assert (
        render("{% websocket_url 'echo' %}", page_request("[::1]:8000")) == "ws://[::1]:8001/echo/"
    )
    request = page_request("[::1]:8000", djws_server=True)
    assert render("{% websocket_url 'echo' %}", request) == "ws://[::1]:8000/echo/"


# Event streams: the same server, with http:// and https://


def test_event_stream_url_is_the_websocket_server_over_http():
    assert (
        render("{% event_stream_url 'echo' %}", page_request()) == "http://example.com:8001/echo/"
    )
    request = page_request("example.com", djws_server=True)
    assert render("{% event_stream_url 'echo' %}", request) == "http://example.com/echo/"
    request = page_request("example.com", secure=True)
    assert render("{% event_stream_url 'echo' %}", request) == "https://example.com:8001/echo/"


def test_event_stream_url_takes_url_arguments_and_as_var():
    request = page_request(djws_server=True)
    assert (
        render("{% event_stream_url 'room' 'lobby' 2 %}", request)
        == "http://example.com:8000/rooms/lobby/2/"
    )
    source = "{% event_stream_url 'room' room='a' page=1 as u %}[{{ u }}]"
    assert render(source, request) == "[http://example.com:8000/rooms/a/1/]"
    assert render("{% event_stream_url 'nope' as u %}[{{ u }}]", request) == "[]"
    with pytest.raises(NoReverseMatch):
        render("{% event_stream_url 'page' %}", request)  # ROOT_URLCONF's, not WebSockets'
    with override_settings(WEBSOCKET_SERVER_URL="wss://ws.example.com/prefix"):
        assert render("{% event_stream_url 'echo' %}", request) == (
            "https://ws.example.com/prefix/echo/"
        )


def test_event_stream_url_from_python():
    request = page_request(secure=True, djws_server=True)
    assert event_stream_url("echo", request=request) == "https://example.com:8000/echo/"


# HTTPS pages get wss://


@pytest.mark.fast
def test_https_page_from_runserver_gets_wss():
    request = page_request("example.com", secure=True)
    assert render("{% websocket_url 'echo' %}", request) == "wss://example.com:8001/echo/"


@pytest.mark.fast
def test_https_page_from_a_djws_server_gets_same_origin_wss():
    request = page_request("example.com", secure=True, djws_server=True)
    assert render("{% websocket_url 'echo' %}", request) == "wss://example.com/echo/"


@pytest.mark.fast
def test_https_behind_a_proxy_is_recognised_through_secure_proxy_ssl_header():
    request = page_request("example.com", djws_server=True, HTTP_X_FORWARDED_PROTO="https")
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        assert render("{% websocket_url 'echo' %}", request) == "wss://example.com/echo/"
    assert render("{% websocket_url 'echo' %}", request) == "ws://example.com/echo/"


# Arguments, like {% url %}


@pytest.mark.fast
def test_positional_arguments():
    result = render("{% websocket_url 'room' 'lobby' 3 %}", page_request())
    assert result == "ws://example.com:8001/rooms/lobby/3/"


@pytest.mark.fast
def test_keyword_arguments_and_variables_with_filters():
    result = render(
        "{% websocket_url 'room' page=n room=name|lower %}", page_request(), name="Lobby", n=2
    )
    assert result == "ws://example.com:8001/rooms/lobby/2/"


@pytest.mark.fast
def test_view_name_from_a_variable():
    assert render("{% websocket_url which %}", page_request(), which="echo") == (
        "ws://example.com:8001/echo/"
    )


@pytest.mark.fast
def test_as_var_stores_the_url_and_renders_nothing():
    result = render("[{% websocket_url 'room' 'lobby' 1 as url %}]<{{ url }}>", page_request())
    assert result == "[]<ws://example.com:8001/rooms/lobby/1/>"


@pytest.mark.fast
def test_url_is_autoescaped_like_url_tag():
    request = page_request()
    assert render("{% websocket_url 'search' 'a&b' %}", request) == (
        "ws://example.com:8001/search/a&amp;b/"
    )
    assert render(
        "{% autoescape off %}{% websocket_url 'search' 'a&b' %}{% endautoescape %}", request
    ) == ("ws://example.com:8001/search/a&b/")


# Failures, like {% url %}


@pytest.mark.fast
def test_unknown_name_raises_no_reverse_match():
    with pytest.raises(NoReverseMatch, match="'nope' not found"):
        render("{% websocket_url 'nope' %}", page_request())


@pytest.mark.fast
def test_names_are_reversed_in_websocket_urlconf_not_root_urlconf():
    assert render("{% url 'page' %}", page_request()) == "/page/"
    with pytest.raises(NoReverseMatch, match="'page' not found"):
        render("{% websocket_url 'page' %}", page_request())


@pytest.mark.fast
def test_wrong_arguments_raise_no_reverse_match():
    with pytest.raises(NoReverseMatch, match="'room' with arguments '\\('lobby',\\)' not found"):
        render("{% websocket_url 'room' 'lobby' %}", page_request())


@pytest.mark.fast
def test_unknown_name_with_as_var_gives_an_empty_string():
    result = render("{% websocket_url 'nope' as url %}<{{ url }}>", page_request())
    assert result == "<>"


@pytest.mark.fast
def test_missing_view_name_is_a_syntax_error():
    with pytest.raises(TemplateSyntaxError, match="'websocket_url' takes at least one argument"):
        render("{% websocket_url %}")


@pytest.mark.fast
def test_without_websocket_urlconf_the_error_says_what_to_set():
    with (
        override_settings(WEBSOCKET_URLCONF=None),
        pytest.raises(ImproperlyConfigured, match="WEBSOCKET_URLCONF is not set"),
    ):
        render("{% websocket_url 'echo' %}", page_request())


# WEBSOCKET_SERVER_URL


@pytest.mark.fast
def test_without_a_request_the_url_points_at_runwebsocket_default_address():
    assert render("{% websocket_url 'echo' %}") == "ws://127.0.0.1:8001/echo/"


@pytest.mark.fast
def test_server_url_port_only_changes_the_port_next_to_runserver():
    with override_settings(WEBSOCKET_SERVER_URL=":9000"):
        assert render("{% websocket_url 'echo' %}", page_request()) == "ws://example.com:9000/echo/"
        request = page_request(djws_server=True)
        assert render("{% websocket_url 'echo' %}", request) == "ws://example.com:8000/echo/"


@pytest.mark.fast
def test_server_url_scheme_relative_follows_the_page_scheme():
    with override_settings(WEBSOCKET_SERVER_URL="//ws.example.com:9000/sockets/"):
        assert render("{% websocket_url 'echo' %}", page_request()) == (
            "ws://ws.example.com:9000/sockets/echo/"
        )
        request = page_request("example.com", secure=True, djws_server=True)
        assert render("{% websocket_url 'echo' %}", request) == (
            "wss://ws.example.com:9000/sockets/echo/"
        )


@pytest.mark.fast
def test_server_url_absolute_is_used_as_is():
    with override_settings(WEBSOCKET_SERVER_URL="wss://ws.example.com"):
        assert render("{% websocket_url 'echo' %}", page_request()) == "wss://ws.example.com/echo/"
        assert render("{% websocket_url 'echo' %}") == "wss://ws.example.com/echo/"


@pytest.mark.fast
@pytest.mark.parametrize(
    "value", ["http://ws.example.com", "ws.example.com", "ws://", "//h/?q=1", 8001]
)
def test_invalid_server_url_is_improperly_configured(value):
    with (
        override_settings(WEBSOCKET_SERVER_URL=value),
        pytest.raises(ImproperlyConfigured, match="WEBSOCKET_SERVER_URL"),
    ):
        render("{% websocket_url 'echo' %}", page_request())


# The same from Python


@pytest.mark.fast
def test_reverse_websocket_gives_the_path():
    assert reverse_websocket("room", kwargs={"room": "lobby", "page": 4}) == "/rooms/lobby/4/"


@pytest.mark.fast
def test_websocket_url_from_python():
    request = page_request("example.com", secure=True, djws_server=True)
    assert websocket_url("room", args=["lobby", 5], request=request) == (
        "wss://example.com/rooms/lobby/5/"
    )
    assert websocket_url("echo") == "ws://127.0.0.1:8001/echo/"
    assert websocket_server_url(page_request()) == "ws://example.com:8001"


@pytest.mark.fast
def test_websocket_url_from_python_raises_for_unknown_names():
    with pytest.raises(NoReverseMatch):
        websocket_url("nope", request=page_request())


# Real pages from real servers: the sample site in both shapes


DATA_WS_URL = re.compile(r'data-ws-url="([^"]*)"')


def ws_url_of_page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=15) as response:
        assert response.status == 200
        match = DATA_WS_URL.search(response.read().decode())
    assert match, f"no data-ws-url in {url}"
    return html.unescape(match.group(1))


@pytest.fixture(scope="module")
def sample_database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {"SAMPLE_SITE_DATABASE": str(tmp_path_factory.mktemp("sample") / "db.sqlite3")}
    result = manage("migrate", "--noinput", "-v0", cwd=SAMPLE_SITE, env=env)
    assert result.returncode == 0, result.stderr
    return env


def test_sample_site_under_runwebsocket_http_uses_its_own_port(sample_database):
    with run_server("--http", cwd=SAMPLE_SITE, env=sample_database) as server:
        page = f"{server.http_url}/echo/"
        assert ws_url_of_page(page) == f"ws://127.0.0.1:{server.port}/ws/echo/"
        assert ws_url_of_page(f"{server.http_url}/chat/kitchen/") == (
            f"ws://127.0.0.1:{server.port}/ws/chat/kitchen/"
        )


def test_sample_site_under_runserver_points_at_the_websocket_server(sample_database):
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with run_server(command=command, cwd=SAMPLE_SITE, env=sample_database) as server:
        assert isinstance(server, Server)
        assert ws_url_of_page(f"{server.http_url}/ping/") == "ws://127.0.0.1:8001/ws/ping/"
        # The page's host name is kept: a page from localhost talks to localhost.
        request = urllib.request.Request(
            f"{server.http_url}/ping/", headers={"Host": f"localhost:{port}"}
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            assert DATA_WS_URL.search(response.read().decode()).group(1) == (
                "ws://localhost:8001/ws/ping/"
            )
    env = {**sample_database, "WEBSOCKET_SERVER_URL": ":9123"}
    with run_server(command=command, cwd=SAMPLE_SITE, env=env) as server:
        assert ws_url_of_page(f"{server.http_url}/ping/") == "ws://127.0.0.1:9123/ws/ping/"
