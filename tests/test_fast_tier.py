"""The fast tier's rule, kept: a test marked ``fast`` starts no server and runs no manage.py.

``./runtests.sh --fast`` runs the tests marked ``fast`` (and not ``postgres``,
``redis`` or ``browser``) and must stay under a minute with no service running.
``tests/conftest.py`` enforces it while each fast test runs: starting a server
-- ``start_server``/``run_server``, a server fixture set up for it -- or
running a ``manage.py`` command raises, and so does using a server started
earlier. These tests are in the tier themselves, so the rule cannot silently
go away.
"""

from __future__ import annotations

import pytest

from .support import ServerForbidden, manage, run_server, start_server
from .support.servers import refuse_in_the_fast_tier

pytestmark = pytest.mark.fast


def test_a_fast_test_cannot_start_a_server() -> None:
    with pytest.raises(ServerForbidden, match=r"is marked fast but started a server \("):
        start_server()
    with pytest.raises(ServerForbidden), run_server("--http"):
        pass
    with pytest.raises(ServerForbidden, match=r"started a server \(gunicorn"):
        start_server(command=["gunicorn", "testproject.wsgi:websocket"])


@pytest.mark.parametrize("command", ["runwebsocket", "runserver"])
def test_a_fast_test_cannot_run_a_serving_command(command: str) -> None:
    with pytest.raises(ServerForbidden, match=rf"started a server \(manage.py {command}\)"):
        manage(command, "--noreload", "127.0.0.1:0")


def test_a_fast_test_cannot_run_any_other_command_either() -> None:
    with pytest.raises(ServerForbidden, match=r"started \(manage.py check\)"):
        manage("check")


def test_the_rule_names_the_test_and_the_way_out(request: pytest.FixtureRequest) -> None:
    with pytest.raises(ServerForbidden) as refused:
        refuse_in_the_fast_tier("a server (runwebsocket)")
    assert str(refused.value) == (
        f"{request.node.nodeid} is marked fast but started a server (runwebsocket): the fast "
        "tier (./runtests.sh --fast) starts no server process and runs no manage.py. Test the "
        "view in-process with djws.test.WebSocketClient, or drop the test's fast mark."
    )


def test_no_fast_test_of_this_run_asks_for_a_server_fixture(request: pytest.FixtureRequest) -> None:
    """The fixtures that yield a :class:`Server` are known by their return annotation."""
    asked = []
    for item in request.session.items:
        if item.get_closest_marker("fast") is None:
            continue
        for name, definitions in item._fixtureinfo.name2fixturedefs.items():  # type: ignore[attr-defined]
            if any("Server" in str(d.func.__annotations__.get("return", "")) for d in definitions):
                asked.append(f"{item.nodeid} asks for {name}")
    assert asked == []
