"""KeyringStore with a real keyring backend: keyrings.alt's plaintext file in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import keyring.core
import pluggy
import pytest
from keyrings.alt.file import PlaintextKeyring

from pkceflow import Client, StoreError, TokenSet
from pkceflow.keyring_store import KeyringStore

from .support import assert_replace_compares_and_swaps

KEY = "default"
OLD = TokenSet("access-old", expires_at=2_000_000_000.0, refresh_token="refresh-old")
NEW = TokenSet("access-new", expires_at=2_000_003_600.0, refresh_token="refresh-new")


def use_backend(monkeypatch: pytest.MonkeyPatch, backend: Any) -> None:
    """Make ``backend`` keyring's backend for this test; the previous one comes back after."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
    keyring.set_keyring(backend)


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    plaintext = PlaintextKeyring()
    plaintext.file_path = str(tmp_path / "keyring.cfg")
    use_backend(monkeypatch, plaintext)
    return plaintext


@pytest.fixture
def store(backend: Any) -> KeyringStore:
    return KeyringStore()


def test_a_saved_token_set_loads_back_equal(store: KeyringStore) -> None:
    tokens = TokenSet(
        "access", expires_at=1.9e9, refresh_token="refresh", id_token="a.b.c", scope=("openid",)
    )
    store.save(KEY, tokens)
    assert store.load(KEY) == tokens


def test_the_token_set_is_one_entry_of_the_service(store: KeyringStore, backend: Any) -> None:
    store.save(KEY, OLD)
    assert json.loads(backend.get_password("pkceflow", KEY)) == OLD.to_dict()


def test_services_are_kept_apart(backend: Any) -> None:
    KeyringStore("app-one").save(KEY, OLD)
    assert KeyringStore("app-two").load(KEY) is None
    assert KeyringStore("app-one").load(KEY) == OLD


def test_nothing_stored_loads_as_none(store: KeyringStore) -> None:
    assert store.load(KEY) is None


def test_delete_removes_the_entry(store: KeyringStore, backend: Any) -> None:
    store.save(KEY, OLD)
    store.delete(KEY)
    assert store.load(KEY) is None
    assert backend.get_password("pkceflow", KEY) is None


def test_delete_without_an_entry_does_nothing(store: KeyringStore) -> None:
    store.delete(KEY)
    assert store.load(KEY) is None


def test_replace_writes_only_over_the_set_it_was_told_is_stored(store: KeyringStore) -> None:
    assert_replace_compares_and_swaps(store)


def test_an_entry_that_is_not_a_token_set_is_a_store_error(
    store: KeyringStore, backend: Any
) -> None:
    backend.set_password("pkceflow", KEY, "{not json")
    with pytest.raises(StoreError, match="not a token set; log in again"):
        store.load(KEY)


def test_an_invalid_profile_name_is_refused(store: KeyringStore) -> None:
    with pytest.raises(StoreError, match="not a valid profile name"):
        store.save("../other", OLD)


def test_the_lock_file_lives_under_pkceflow_home(store: KeyringStore, pkceflow_home: Path) -> None:
    store.save(KEY, OLD)
    assert (pkceflow_home / "locks" / f"{KEY}.lock").is_file()
    assert not (pkceflow_home / "locks" / f"{KEY}.json").exists()  # no token on disk


def test_no_usable_backend_is_a_store_error_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_backend(monkeypatch, keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    with pytest.raises(StoreError, match="no usable keyring backend") as caught:
        KeyringStore()
    assert "keyrings.alt" in str(caught.value)
    assert "--store file" in str(caught.value)


def test_a_backend_that_cannot_write_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = PlaintextKeyring()
    broken.file_path = str(tmp_path)  # a folder where its file should be
    use_backend(monkeypatch, broken)
    with pytest.raises(StoreError, match="the keyring could not store the login"):
        KeyringStore().save(KEY, OLD)


def test_the_store_called_keyring_is_the_built_in_keyring_store(
    backend: Any, plugin_manager: pluggy.PluginManager
) -> None:
    client = Client(
        "cli",
        authorization_url="https://auth.example.test/authorize",
        token_url="https://auth.example.test/token",
        store="keyring",
        plugin_manager=plugin_manager,
    )
    assert isinstance(client.store, KeyringStore)
    client.store.save(client.profile, OLD)
    assert client.stored() == OLD
