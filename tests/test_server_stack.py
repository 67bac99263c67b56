"""The calls a waiting view keeps on its stack cost no C frame (djws.server.stack).

Each C frame between the worker and a view waiting in ``receive()`` is copied
for every idle connection. Unit tests of the two helpers, then the real thing:
the C stack an idle connection's greenlet saved, in a real worker.
"""

from __future__ import annotations

import functools
from types import MethodType

import pytest
from django.core.handlers.exception import convert_exception_to_response
from websockets.sync.client import connect

from djws.server.stack import direct_call, inline_middleware_calls

from .support import Server


class Middleware:
    def __init__(self, get_response: object, name: str) -> None:
        self.get_response = get_response
        self.name = name

    def __call__(self, request: list[str]) -> list[str]:
        return [self.name, *self.get_response(request)]  # type: ignore[operator]


def view(request: list[str]) -> list[str]:
    return ["view", *request]


def build_chain() -> object:
    """A chain the way Django's load_middleware builds it: outermost first."""
    handler = convert_exception_to_response(view)
    for name in ("inner", "outer"):
        handler = convert_exception_to_response(Middleware(handler, name))
    return handler


@pytest.mark.fast
def test_direct_call_binds_a_python_call_method() -> None:
    middleware = Middleware(view, "m")
    direct = direct_call(middleware)
    assert isinstance(direct, MethodType)
    assert direct.__self__ is middleware
    assert direct(["r"]) == ["m", "view", "r"]


@pytest.mark.fast
@pytest.mark.parametrize(
    "obj",
    [view, Middleware, functools.partial(view), Middleware(view, "m").__call__, len],
    ids=["function", "class", "partial", "bound method", "builtin"],
)
def test_direct_call_leaves_other_callables_alone(obj: object) -> None:
    assert direct_call(obj) is obj


@pytest.mark.fast
def test_the_middleware_chain_calls_each_middleware_directly() -> None:
    chain = build_chain()
    assert chain(["request"]) == ["outer", "inner", "view", "request"]  # type: ignore[operator]
    assert inline_middleware_calls(chain) == 2
    assert chain(["request"]) == ["outer", "inner", "view", "request"]  # type: ignore[operator]
    assert inline_middleware_calls(chain) == 0  # already done


@pytest.mark.fast
def test_a_chain_of_another_shape_is_left_as_it_is() -> None:
    assert inline_middleware_calls(view) == 0
    assert inline_middleware_calls(None) == 0


def test_an_idle_connection_saves_a_small_c_stack(server: Server) -> None:
    """With the six middleware of the test project: 5 C frames, under 4.5 KB (was 9.7)."""
    with connect(f"{server.url}/echo/") as idle:
        idle.send("hello")
        assert idle.recv(timeout=10) == "hello"
        with connect(f"{server.url}/memory/stacks/") as probe:
            stacks = probe.recv(timeout=10)
    sizes = [int(size) for size in str(stacks).split()]
    assert sizes, "no idle connection found"
    assert max(sizes) < 4500, f"saved C stacks of idle connections: {sizes} bytes"
