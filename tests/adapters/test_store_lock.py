"""_store_lock.py: one lock per key, shared by the file store and the keyring store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from keyrings.alt.file import PlaintextKeyring

from pkceflow import StoreError
from pkceflow._store_lock import StoreLock
from pkceflow.file_store import FileStore, file_stem
from pkceflow.keyring_store import KeyringStore

from .support import held_elsewhere
from .test_keyring_store import use_backend


def test_the_lock_file_is_private_and_named_after_the_key(tmp_path: Path) -> None:
    lock = StoreLock(tmp_path / "locks", stem=file_stem)
    with lock.hold("client-secret/work"):
        pass
    assert stat.S_IMODE(os.stat(tmp_path / "locks").st_mode) == 0o700
    path = tmp_path / "locks" / "client-secret@work.lock"
    assert lock.path("client-secret/work") == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_invalid_key_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    lock = StoreLock(tmp_path / "locks", stem=file_stem)
    with pytest.raises(StoreError, match="not a valid profile name"), lock.hold("../x"):
        pass
    assert not (tmp_path / "locks").exists()


def test_acquired_runs_once_for_the_outermost_hold(tmp_path: Path) -> None:
    calls: list[str] = []
    lock = StoreLock(tmp_path, stem=file_stem, acquired=calls.append)
    with lock.hold("work"), lock.hold("work"):
        pass
    with lock.hold("work"):
        pass
    assert calls == ["work", "work"]


def test_the_keyring_store_and_a_file_store_share_the_lock_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    use_backend(monkeypatch, backend)
    folder = tmp_path / "locks"
    keyring_store = KeyringStore(lock_directory=str(folder), lock_timeout=0.2)
    with (
        held_elsewhere(lambda: FileStore(folder).lock("work")),
        pytest.raises(StoreError, match=r"held the lock on 'work' for 0\.2 s"),
        keyring_store.lock("work"),
    ):
        pass
    with keyring_store.lock("work"):  # free again
        pass
    assert sorted(os.listdir(folder)) == ["work.lock"]  # no token file beside the locks
