"""A full disk and a read-only token folder during a refresh.

The refresh fails with a StoreError that says why, the previous token set stays whole
on disk, and no temporary file is left. What the tests also state, because it is true:
when the failure comes after the provider answered, the provider has already rotated
the refresh token, so the login kept on disk is dead (the next refresh is refused).
Only a failure found before the request is sent (the lock) keeps the login alive.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkceflow import Client, LoginRequiredError, StoreError
from pkceflow.file_store import FileStore
from pkceflow.testing import TestProvider
from tests.support.commands import pkceflow_command
from tests.support.folders import read_only_folder
from tests.support.oauth import issued_token_set

from .support import WAIT
from .workers import CANNOT_MOUNT, make_client, read_only_refresh

TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "tokens"


@pytest.fixture
def client(provider: TestProvider, folder: Path) -> Iterator[Client]:
    made = make_client(provider.token_endpoint, provider.authorization_endpoint, str(folder))
    yield made
    made.close()


@pytest.mark.parametrize("written_first", [0, 100], ids=["nothing-written", "part-written"])
def test_a_full_disk_fails_the_refresh_with_a_store_error_and_keeps_the_old_file_whole(
    provider: TestProvider,
    client: Client,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    written_first: int,
) -> None:
    old = issued_token_set(provider)
    client.store.save("default", old)
    before = (folder / "default.json").read_bytes()

    def disk_full(self: FileStore, fd: int, data: bytes) -> None:
        os.write(fd, data[:written_first])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(FileStore, "_write_fd", disk_full)
    with pytest.raises(StoreError) as raised:
        client.refresh()
    assert str(raised.value) == (
        f"cannot write {folder / 'default.json'}: No space left on device;"
        " the previous login is unchanged"
    )
    assert (folder / "default.json").read_bytes() == before
    assert sorted(os.listdir(folder)) == ["default.json", "default.lock"]
    # The provider rotated the token before the save failed: the old one is dead.
    assert provider.count("token") == 1
    assert old.refresh_token not in provider.active_tokens()
    monkeypatch.undo()
    with pytest.raises(LoginRequiredError, match="invalid_grant"):
        client.refresh()


def _in_private_tmpfs(tmp_path: Path, provider: TestProvider, command: list[str]) -> list[Any]:
    """Run workers.disk_full_main in a mount namespace of its own; skip where impossible."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("a tmpfs needs root and unshare(1); the monkeypatched test covers ENOSPC")
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    stored = json.dumps(issued_token_set(provider).to_dict())
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r});"
        " from faults.workers import disk_full_main; disk_full_main(*sys.argv[1:])"
    )
    arguments = [str(mount_point), provider.token_endpoint, provider.authorization_endpoint]
    arguments += [stored, json.dumps(command) if command else ""]
    done = subprocess.run(
        [
            unshare,
            "--mount",
            "--propagation",
            "private",
            "--",
            sys.executable,
            "-c",
            code,
            *arguments,
        ],
        capture_output=True,
        timeout=WAIT * 2,
        check=False,
    )
    err = done.stderr.decode("utf-8", "replace")
    if done.returncode == CANNOT_MOUNT or err.startswith("unshare:"):
        pytest.skip(f"cannot mount a tmpfs here: {err.strip()[-200:]}")
    assert done.returncode == 0, err
    assert os.listdir(mount_point) == []  # the mount never left its namespace
    result: list[Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return result


def test_a_real_full_tmpfs_fails_the_library_refresh_and_keeps_the_old_file(
    provider: TestProvider, tmp_path: Path
) -> None:
    outcome, intact, left = _in_private_tmpfs(tmp_path, provider, [])
    assert outcome.startswith("StoreError: cannot write "), outcome
    assert outcome.endswith(": No space left on device; the previous login is unchanged")
    assert intact
    assert left == ["default.json", "default.lock"]


def test_a_real_full_tmpfs_fails_pkceflow_refresh_with_one_line(
    provider: TestProvider, tmp_path: Path
) -> None:
    outcome, intact, left = _in_private_tmpfs(
        tmp_path, provider, [*pkceflow_command(), "refresh", "--profile", "default"]
    )
    assert outcome.startswith("exit 1: pkceflow: error: cannot write "), outcome
    assert outcome.endswith("No space left on device; the previous login is unchanged\n")
    assert outcome.count("\n") == 1
    assert intact
    assert left == ["default.json", "default.lock"]


def _run_read_only(
    provider: TestProvider, tmp_path: Path, *, remove_lock_file: bool
) -> tuple[str, bool, list[str]]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    stored = issued_token_set(provider).to_dict()
    with read_only_folder(tmp_path) as (directory, uid):
        process = context.Process(
            target=read_only_refresh,
            args=(
                str(directory),
                provider.token_endpoint,
                provider.authorization_endpoint,
                stored,
                uid,
                remove_lock_file,
                results,
            ),
            daemon=True,
        )
        process.start()
        try:
            kind, value = results.get(timeout=WAIT * 2)
        except queue.Empty:
            raise AssertionError("the read-only worker did not report") from None
        finally:
            process.join(WAIT)
            if process.is_alive():
                process.kill()
                process.join(WAIT)
            results.close()
            results.join_thread()
    assert kind == "outcome", value
    outcome, intact, left = value
    return str(outcome), bool(intact), list(left)


def test_a_read_only_token_folder_fails_the_refresh_with_a_store_error_and_keeps_the_file(
    provider: TestProvider, tmp_path: Path
) -> None:
    outcome, intact, left = _run_read_only(provider, tmp_path, remove_lock_file=False)
    assert outcome.startswith("StoreError: cannot write "), outcome
    assert outcome.endswith(": Permission denied; the previous login is unchanged")
    assert intact
    assert left == ["default.json", "default.lock"]
    # Found only when saving, after the provider rotated the refresh token.
    assert provider.count("token") == 1


def test_a_read_only_token_folder_without_a_lock_file_fails_before_the_request(
    provider: TestProvider, tmp_path: Path
) -> None:
    outcome, intact, left = _run_read_only(provider, tmp_path, remove_lock_file=True)
    # (Was a bare PermissionError from the lock: not a PkceflowError.)
    assert outcome.startswith("StoreError: cannot lock "), outcome
    assert outcome.endswith("default.lock: Permission denied")
    assert intact
    assert left == ["default.json"]
    # Nothing was sent, so the login on disk is still good.
    assert provider.count("token") == 0
