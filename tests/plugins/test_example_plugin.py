"""docs/plugin-example: the documented plugin package, installed and used for real.

It is installed (editable) by requirements-dev.txt and found through the
entry-point group "pkceflow", exactly as a user's plugin would be.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from pkceflow import Client
from pkceflow.plugins import make_plugin_manager, store_names
from pkceflow.providers import installed_presets
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow_core import UsageError
from tests.support.threads import at_once


@pytest.fixture
def sqlite_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tokens.sqlite3"
    monkeypatch.setenv("PKCEFLOW_SQLITE", str(path))
    return path


def sqlite_client(provider: TestProvider, scope: str) -> Client:
    """A Client of ``provider``'s public client whose store is the example's ``sqlite``,
    found through the installed entry points."""
    return Client.from_issuer(
        provider.issuer,
        PUBLIC_CLIENT_ID,
        scope=scope,
        browser=HttpFollowingBrowser(),
        store="sqlite",
        plugin_manager=make_plugin_manager(),
    )


def test_the_entry_point_plugins_are_all_found() -> None:
    presets = installed_presets(make_plugin_manager())

    assert {"github", "google", "microsoft", "keycloak"} <= set(presets)


def test_the_example_store_is_registered_by_name_beside_the_built_in_ones() -> None:
    stores = store_names(make_plugin_manager())

    assert {"file", "keyring", "memory", "sqlite"} <= set(stores)
    assert stores["sqlite"] == "token sets in an SQLite file ($PKCEFLOW_SQLITE)"


def test_the_example_store_keeps_a_login_made_through_the_client(
    provider: TestProvider, sqlite_path: Path
) -> None:
    client = sqlite_client(provider, "openid offline_access")

    tokens = client.login()

    assert stat.S_IMODE(os.stat(sqlite_path).st_mode) == 0o600
    assert client.stored() == tokens


def test_the_example_store_refreshes_once_for_many_threads(
    provider: TestProvider, sqlite_path: Path
) -> None:
    client = sqlite_client(provider, "offline_access")
    provider.settings.access_token_lifetime = 30
    client.login()
    client.driver.clock = lambda: time.time() + 20  # 10 s left: due, under half its life
    provider.settings.access_token_lifetime = 3600
    provider.clear_requests()
    provider.settings.token_delay = 0.05

    outcome = at_once(8, lambda: client.token(min_ttl=60))

    assert outcome.errors == []
    assert provider.count("token") == 1
    results = outcome.results
    assert len(results) == 8
    assert len(set(results)) == 1


def test_the_keycloak_preset_needs_its_host_and_realm() -> None:
    with pytest.raises(UsageError, match="needs a value"):
        Client.for_provider("keycloak", "app", plugin_manager=make_plugin_manager())
