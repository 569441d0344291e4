"""Property tests: client credentials encoding and loopback redirect URI matching."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow.testing import TestProvider
from pkceflow.testing.provider import redirect_uri_matches

from .helpers import basic, request

_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=24).filter(
    lambda s: s.strip() == s
)


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    with TestProvider() as p:
        yield p
        assert not p.errors


@settings(max_examples=40, deadline=None)
@given(client_id=_TEXT, secret=_TEXT)
def test_basic_credentials_round_trip(provider: TestProvider, client_id: str, secret: str) -> None:
    provider.add_client(client_id, secret)
    reply = request(
        provider.introspection_endpoint, form={"token": "x"}, headers=basic(client_id, secret)
    )
    assert reply.status == 200, reply.text
    reply = request(
        provider.introspection_endpoint, form={"token": "x"}, headers=basic(client_id, secret + "!")
    )
    assert reply.status == 401


@given(port=st.integers(1, 65535), host=st.sampled_from(["127.0.0.1", "[::1]", "localhost"]))
def test_loopback_any_port(port: int, host: str) -> None:
    registered = f"http://{host}/callback"
    assert redirect_uri_matches(registered, f"http://{host}:{port}/callback")
    assert not redirect_uri_matches(registered, f"http://{host}:{port}/callback2")
    assert not redirect_uri_matches(registered, f"https://{host}:{port}/callback")


@given(path=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=12))
def test_only_the_exact_path_matches(path: str) -> None:
    presented = f"http://127.0.0.1:8000/{path}"
    expected = path == "callback"
    assert redirect_uri_matches("http://127.0.0.1/callback", presented) is expected
