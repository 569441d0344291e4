"""_loopback_bind.py: the arguments both loopback listeners take, checked and bound.

Each test runs with the threaded listener and with the asyncio one: both are made
the same way (``BoundListener``), so a redirect URI either refuses, the other refuses.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import pytest

from pkceflow import UsageError
from pkceflow._loopback_bind import BoundListener
from pkceflow.async_loopback import AsyncLoopbackListener
from pkceflow.loopback import LoopbackListener

Make = Callable[..., BoundListener]


@pytest.fixture(params=[LoopbackListener, AsyncLoopbackListener], ids=["threaded", "asyncio"])
def kind(request: pytest.FixtureRequest) -> type[BoundListener]:
    """The listener class under test."""
    listener_class: type[BoundListener] = request.param
    return listener_class


@pytest.fixture
def make(kind: type[BoundListener]) -> Iterator[Make]:
    """Makes listeners of ``kind``; every one made is closed after the test."""
    made: list[BoundListener] = []

    def make(*args: object, **kwargs: object) -> BoundListener:
        listener = kind(*args, **kwargs)  # type: ignore[arg-type]
        made.append(listener)
        return listener

    yield make
    for listener in made:
        if isinstance(listener, AsyncLoopbackListener):
            asyncio.run(listener.aclose())
        else:
            assert isinstance(listener, LoopbackListener)
            listener.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "8.8.8.8", "example.com", "::", "[::]"])
def test_the_redirect_host_must_be_loopback(make: Make, host: str) -> None:
    with pytest.raises(UsageError, match="must be a loopback address"):
        make(host)


@pytest.mark.parametrize("path", ["callback", "/callback?x=1", "/callback#top"])
def test_the_redirect_path_must_be_a_plain_absolute_path(make: Make, path: str) -> None:
    with pytest.raises(UsageError, match="redirect path"):
        make(path=path)


def test_port_zero_picks_a_free_port(make: Make) -> None:
    first, second = make(port=0), make(port=0)
    assert 0 not in (first.port, second.port)
    assert first.port != second.port
    assert first.redirect_uri == f"http://127.0.0.1:{first.port}/callback"


def test_a_given_port_and_path_are_used(make: Make) -> None:
    port = _free_port()
    listener = make(port=port, path="/oauth/cb")
    assert listener.redirect_uri == f"http://127.0.0.1:{port}/oauth/cb"


def test_a_busy_port_is_a_usage_error_naming_it(make: Make) -> None:
    first = make()

    with pytest.raises(UsageError, match=f"port {first.port} is already in use"):
        make("127.0.0.1", first.port)


def test_a_given_port_taken_on_ipv6_loopback_is_a_usage_error_naming_it(make: Make) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as squatter:
        squatter.bind(("::1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(UsageError, match=rf"port {port} is already in use on ::1"):
            make("localhost", port)
        # Nothing is left bound on 127.0.0.1 by the attempt.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
