"""The pkceflow_client fixture: a user's test needs two lines."""

from __future__ import annotations

from pkceflow import Client
from pkceflow.testing import TestProvider


def test_the_client_fixture_logs_in_against_the_provider(
    pkceflow_client: Client, pkceflow_provider: TestProvider
) -> None:
    tokens = pkceflow_client.login()

    assert tokens.access_token in {t.token for t in pkceflow_provider.tokens()}
    assert pkceflow_client.token() == tokens.access_token
