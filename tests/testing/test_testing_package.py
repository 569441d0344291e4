"""The public names of ``pkceflow.testing`` and ``pkceflow.testing.provider``, and the
registered-client record."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pkceflow.testing
import pkceflow.testing.provider
from pkceflow.testing import (
    DEFAULT_REDIRECT_URIS,
    PUBLIC_CLIENT_ID,
    ProviderSettings,
    RegisteredClient,
    TestProvider,
)


def test_every_exported_name_is_importable_from_both() -> None:
    for name in pkceflow.testing.__all__:
        assert getattr(pkceflow.testing, name) is not None
    for name in pkceflow.testing.provider.__all__:
        assert getattr(pkceflow.testing.provider, name) is not None
    browser_names = {"BrowserError", "BrowserResponse", "HttpFollowingBrowser"}
    provider_names = set(pkceflow.testing.__all__) - browser_names
    assert provider_names <= set(pkceflow.testing.provider.__all__)


def test_the_registered_client_is_not_called_client() -> None:
    # pkceflow.Client is the OAuth client; the provider's record has a name of its own.
    assert "Client" not in pkceflow.testing.__all__
    assert not hasattr(pkceflow.testing.provider, "Client")
    with pytest.raises(AttributeError):
        pkceflow.testing.Client  # noqa: B018


def test_add_client_and_client_return_the_registered_client() -> None:
    provider = TestProvider()
    added = provider.add_client("app", "secret", auth_method="client_secret_post")
    assert added == RegisteredClient("app", "secret", "client_secret_post")
    assert provider.client("app") is added
    assert provider.client(PUBLIC_CLIENT_ID) == RegisteredClient(PUBLIC_CLIENT_ID)
    assert provider.client("nobody") is None


def test_a_registered_client_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="auth_method"):
        RegisteredClient("a", auth_method="private_key_jwt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        RegisteredClient("a", "secret")
    with pytest.raises(TypeError, match="redirect_uris"):
        RegisteredClient("a", redirect_uris="http://127.0.0.1/cb")  # type: ignore[arg-type]
    assert RegisteredClient("a").redirect_uris == DEFAULT_REDIRECT_URIS


@given(count=st.integers(min_value=1, max_value=8), extra=st.integers(min_value=0, max_value=4))
def test_fail_next_token_requests_fails_exactly_that_many(count: int, extra: int) -> None:
    settings = ProviderSettings()
    settings.fail_next_token_requests(count, "http_503")
    taken = [settings.take_token_failure() for _ in range(count + extra)]
    assert taken == ["http_503"] * count + [None] * extra
    assert (settings.token_failure, settings.token_failure_count) == (None, None)


@given(count=st.integers(min_value=1, max_value=8), extra=st.integers(min_value=0, max_value=4))
def test_delay_next_token_requests_delays_exactly_that_many(count: int, extra: int) -> None:
    settings = ProviderSettings()
    settings.delay_next_token_requests(count, 0.25)
    taken = [settings.take_token_delay() for _ in range(count + extra)]
    assert taken == [0.25] * count + [0.0] * extra
    assert (settings.token_delay, settings.token_delay_count) == (0.0, None)
