"""FileStore on real files: privacy, atomic replacement, refusals, locking across processes."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
import time
from pathlib import Path

import pytest

from pkceflow import StoreError, TokenSet
from pkceflow.file_store import FileStore
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from tests.support.folders import read_only_folder

from .conftest import MakeClient
from .support import (
    WAIT,
    Background,
    assert_replace_compares_and_swaps,
    counter_worker,
    held_elsewhere,
    read_only_folder_worker,
    refresh_worker,
    run_processes,
)

KEY = "default"
OLD = TokenSet("access-old", expires_at=2_000_000_000.0, refresh_token="refresh-old")
NEW = TokenSet("access-new", expires_at=2_000_003_600.0, refresh_token="refresh-new")

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "tokens"


@pytest.fixture
def store(folder: Path) -> FileStore:
    return FileStore(folder)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def write_raw(store: FileStore, content: bytes, file_mode: int = 0o600) -> Path:
    """Put ``content`` at ``store``'s path for KEY, as some other program might."""
    store.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = store.path(KEY)
    path.write_bytes(content)
    path.chmod(file_mode)
    return path


# --------------------------------------------------------------------------- basics


def test_a_saved_token_set_loads_back_equal(store: FileStore) -> None:
    tokens = TokenSet(
        "access",
        expires_at=1_900_000_000.5,
        refresh_token="refresh",
        id_token="header.payload.signature",
        scope=("openid", "email"),
        extra={"tenant": "t1"},
    )
    store.save(KEY, tokens)
    assert store.load(KEY) == tokens


def test_nothing_stored_loads_as_none(store: FileStore) -> None:
    assert store.load(KEY) is None


def test_the_default_folder_is_tokens_under_pkceflow_home(pkceflow_home: Path) -> None:
    assert FileStore().path("work") == pkceflow_home / "tokens" / "work.json"


def test_delete_removes_the_file(store: FileStore) -> None:
    store.save(KEY, OLD)
    store.delete(KEY)
    assert store.load(KEY) is None
    assert not store.path(KEY).exists()


def test_delete_without_a_file_does_nothing(store: FileStore) -> None:
    store.delete(KEY)
    assert store.load(KEY) is None


def test_profiles_are_kept_apart(store: FileStore) -> None:
    store.save("work", OLD)
    store.save("home", NEW)
    assert (store.load("work"), store.load("home")) == (OLD, NEW)


# --------------------------------------------------------------------------- privacy


def test_the_file_is_created_0600_in_a_0700_folder(store: FileStore, folder: Path) -> None:
    previous = os.umask(0)  # nothing may rely on the umask
    try:
        store.save(KEY, OLD)
    finally:
        os.umask(previous)
    assert mode(folder) == 0o700
    assert mode(store.path(KEY)) == 0o600


def test_an_existing_folder_open_to_others_is_made_private(store: FileStore, folder: Path) -> None:
    folder.mkdir()
    folder.chmod(0o755)
    store.save(KEY, OLD)
    assert mode(folder) == 0o700


def test_the_temporary_file_is_private_before_a_byte_is_written(
    store: FileStore, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, str]] = []
    original = FileStore._write_fd

    def inspecting(self: FileStore, fd: int, data: bytes) -> None:
        info = os.fstat(fd)
        seen.append((stat.S_IMODE(info.st_mode), info.st_size, os.readlink(f"/proc/self/fd/{fd}")))
        original(self, fd, data)

    monkeypatch.setattr(FileStore, "_write_fd", inspecting)
    store.save(KEY, OLD)
    [(file_mode, size, written_path)] = seen
    assert file_mode == 0o600
    assert size == 0
    # Written beside the token file under another name, then renamed over it.
    assert Path(written_path).parent == folder
    assert Path(written_path).name != f"{KEY}.json"
    assert not Path(written_path).exists()


# --------------------------------------------------------------------------- atomic replacement


@pytest.mark.parametrize("written_first", [0, 40], ids=["nothing-written", "half-written"])
def test_a_failed_write_keeps_the_old_token_and_leaves_no_temporary_file(
    store: FileStore, folder: Path, monkeypatch: pytest.MonkeyPatch, written_first: int
) -> None:
    store.save(KEY, OLD)

    def disk_full(self: FileStore, fd: int, data: bytes) -> None:
        os.write(fd, data[:written_first])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileStore, "_write_fd", disk_full)
    with pytest.raises(
        StoreError, match=r"No space left on device; the previous login is unchanged"
    ):
        store.save(KEY, NEW)
    assert store.load(KEY) == OLD
    assert sorted(os.listdir(folder)) == [f"{KEY}.json", f"{KEY}.lock"]


def test_a_read_only_folder_is_a_store_error_and_the_old_token_stays(tmp_path: Path) -> None:
    # Folder permissions do not bind root, so as root the worker runs as nobody.
    with read_only_folder(tmp_path) as (directory, uid):
        [(outcome, old_intact, names)] = run_processes(
            read_only_folder_worker, [(str(directory), uid)]
        )
    assert outcome.startswith("StoreError: cannot write")
    assert "Permission denied" in outcome
    assert old_intact
    assert sorted(names) == [f"{KEY}.json", f"{KEY}.lock"]


# --------------------------------------------------------------------------- what is refused


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"version": 1, "access_token": "abc", "token_ty',
        b"null",
        b"[]",
        b'"a string"',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000,
        b'{"version": 1}',
        b'{"version": 1, "access_token": "a", "token_type": "Bearer", "expires_at": "soon"}',
    ],
    ids=[
        "empty",
        "brace",
        "truncated",
        "null",
        "array",
        "string",
        "binary",
        "deeply-nested",
        "no-token",
        "bad-expiry",
    ],
)
def test_a_file_that_is_not_a_token_set_is_a_store_error(store: FileStore, content: bytes) -> None:
    write_raw(store, content)
    with pytest.raises(
        StoreError, match=r"is not a token set this pkceflow can read \(.*\); log in again"
    ):
        store.load(KEY)


def test_a_future_schema_version_is_a_store_error(store: FileStore) -> None:
    document = {**NEW.to_dict(), "version": 2}
    write_raw(store, json.dumps(document).encode())
    with pytest.raises(StoreError, match="version 2; this pkceflow reads 1"):
        store.load(KEY)


@pytest.mark.parametrize("file_mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_a_file_others_can_read_is_refused_with_the_chmod_fix(
    store: FileStore, file_mode: int
) -> None:
    path = write_raw(store, json.dumps(OLD.to_dict()).encode(), file_mode)
    with pytest.raises(
        StoreError, match=re.escape(f"(mode {file_mode:o}); fix it with: chmod 600 {path}")
    ):
        store.load(KEY)


def test_a_symlink_at_the_token_path_is_refused(store: FileStore, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(OLD.to_dict()))
    target.chmod(0o600)
    store.directory.mkdir(mode=0o700)
    store.path(KEY).symlink_to(target)
    with pytest.raises(StoreError, match="is a symlink; refusing to follow it"):
        store.load(KEY)


def test_replace_through_a_symlink_is_refused_and_the_target_untouched(
    store: FileStore, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(OLD.to_dict()))
    target.chmod(0o600)
    before = target.read_bytes()
    store.directory.mkdir(mode=0o700)
    store.path(KEY).symlink_to(target)
    with pytest.raises(StoreError, match="symlink"):
        store.replace(KEY, OLD, NEW)
    assert target.read_bytes() == before


def test_saving_over_a_symlink_replaces_the_link_not_its_target(
    store: FileStore, tmp_path: Path
) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("not a token file")
    store.directory.mkdir(mode=0o700)
    store.path(KEY).symlink_to(target)
    store.save(KEY, NEW)
    assert target.read_text() == "not a token file"
    assert not store.path(KEY).is_symlink()
    assert store.load(KEY) == NEW


@root_only
def test_a_file_owned_by_another_user_is_refused(store: FileStore) -> None:
    path = write_raw(store, json.dumps(OLD.to_dict()).encode())
    os.chown(path, 4242, 4242)
    with pytest.raises(StoreError, match="belongs to another user"):
        store.load(KEY)


@root_only
def test_a_token_folder_owned_by_another_user_is_refused(store: FileStore) -> None:
    store.save(KEY, OLD)
    os.chown(store.directory, 4242, 4242)
    with pytest.raises(StoreError, match="belongs to another user"):
        store.save(KEY, NEW)


def test_a_folder_at_the_token_path_is_refused(store: FileStore) -> None:
    store.path(KEY).mkdir(parents=True)
    with pytest.raises(StoreError, match="not a regular file"):
        store.load(KEY)


def test_a_file_in_place_of_the_folder_is_refused(store: FileStore, folder: Path) -> None:
    folder.write_text("in the way")
    with pytest.raises(StoreError, match=r"cannot create .*: File exists"):
        store.save(KEY, OLD)


@pytest.mark.parametrize(
    "key",
    ["", "../escape", "a/b", "/etc/passwd", ".hidden", "-flag", "x" * 65, "with space", "é", "a\n"],
)
def test_an_invalid_profile_name_is_refused(store: FileStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError, match="not a valid profile name"):
        store.save(key, OLD)
    with pytest.raises(StoreError, match="not a valid profile name"):
        store.load(key)
    assert not (tmp_path / "escape.json").exists()


@pytest.mark.parametrize("key", ["default", "work.prod", "a_b-c", "A1", "x" * 64])
def test_a_valid_profile_name_is_accepted(store: FileStore, key: str) -> None:
    store.save(key, OLD)
    assert store.load(key) == OLD


# --------------------------------------------------------------------------- compare-and-swap


def test_replace_writes_only_over_the_set_it_was_told_is_stored(store: FileStore) -> None:
    assert_replace_compares_and_swaps(store)


def test_replace_refuses_when_nothing_is_stored(store: FileStore) -> None:
    assert store.replace(KEY, OLD, NEW) is False
    assert store.load(KEY) is None


# --------------------------------------------------------------------------- locking


def test_the_lock_is_reentrant_within_a_thread(store: FileStore) -> None:
    with store.lock(KEY), store.lock(KEY):
        store.save(KEY, OLD)  # save takes the lock a third time
    assert store.load(KEY) == OLD


def test_the_lock_keeps_other_threads_out(store: FileStore) -> None:
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def hold() -> None:
        with store.lock(KEY):
            inside.set()
            release.wait(WAIT)
            order.append("first out")

    def enter() -> None:
        with store.lock(KEY):
            order.append("second in")

    holder = Background(hold)
    assert inside.wait(WAIT)
    second = Background(enter)
    time.sleep(0.1)  # time enough to get in, were the lock not held
    assert not second.finished
    release.set()
    holder.result()
    second.result()
    assert order == ["first out", "second in"]


def test_a_lock_held_too_long_elsewhere_is_a_store_error(folder: Path) -> None:
    holder_store = FileStore(folder)
    waiting_store = FileStore(folder, lock_timeout=0.2)
    with (
        held_elsewhere(lambda: holder_store.lock(KEY)),
        pytest.raises(StoreError, match=r"held the lock on 'default' for 0\.2 s"),
        waiting_store.lock(KEY),
    ):
        pass


def test_four_processes_locking_and_replacing_lose_nothing(folder: Path) -> None:
    FileStore(folder).save("shared", TokenSet("access-0", refresh_token="refresh-0"))
    cycles = 25
    seen = run_processes(counter_worker, [(str(folder), cycles)] * 4)
    final = FileStore(folder).load("shared")
    assert final == TokenSet(f"access-{4 * cycles}", refresh_token=f"refresh-{4 * cycles}")
    assert all(values == sorted(values) for values in seen)
    assert sorted(v for values in seen for v in values) == list(range(1, 4 * cycles + 1))


@pytest.fixture
def logged_in_folder(
    folder: Path, provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient
) -> Path:
    """``folder`` holding a login made through ``provider``, with refresh token rotation."""
    make_client(store=FileStore(folder), scope="openid offline_access").login()
    browser.wait()
    provider.clear_requests()
    return folder


def test_four_processes_refreshing_at_once_keep_one_rotation_chain(
    logged_in_folder: Path, provider: TestProvider
) -> None:
    calls = 5
    arguments = (
        provider.token_endpoint,
        provider.authorization_endpoint,
        str(logged_in_folder),
        calls,
        1e9,  # min_ttl: no access token is ever fresh enough, so every call refreshes
    )
    got = run_processes(refresh_worker, [arguments] * 4)

    refreshes = [
        r.form["refresh_token"]
        for r in provider.requests
        if r.endpoint == "token" and r.form.get("grant_type") == "refresh_token"
    ]
    issued = provider.tokens()
    refresh_tokens = [t.token for t in issued if t.kind == "refresh"]
    access_tokens = [t.token for t in issued if t.kind == "access"]
    assert len(refreshes) == 4 * calls
    # Each refresh spent the refresh token the one before it received: one chain.
    assert refreshes == refresh_tokens[:-1]
    assert provider.active_tokens() >= {refresh_tokens[-1]}
    assert not set(refresh_tokens[:-1]) & provider.active_tokens()
    # Every call got its own new access token, and the newest one is stored.
    returned = [token for tokens in got for token in tokens]
    assert sorted(returned) == sorted(access_tokens[1:])
    stored = FileStore(logged_in_folder).load(KEY)
    assert stored is not None
    assert (stored.access_token, stored.refresh_token) == (access_tokens[-1], refresh_tokens[-1])
