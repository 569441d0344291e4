"""The token store is 0600 files in a 0700 folder, created that way from the start.

The store runs in a subprocess whose umask is 0, so any file or folder pkceflow does
not restrict itself would come out readable (and writable) by everyone. A patched
FileStore._write_fd looks at the temporary file before a byte is written; a watcher
thread polls the tree throughout; every chmod is recorded, since a mode fixed after
creation is a window in which another local user could open the file.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pkceflow.testing import TestProvider
from tests.support.cli import Cli

WORKER = Path(__file__).with_name("umask_worker.py")


def run_worker(home: Path, *extra: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PKCEFLOW_HOME"}
    result = subprocess.run(
        [sys.executable, str(WORKER), str(home), *extra],
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def private(mode: int) -> bool:
    return mode & 0o077 == 0


def test_token_files_are_0600_before_a_byte_is_written_under_umask_0(tmp_path: Path) -> None:
    report = run_worker(tmp_path / "home")

    assert len(report["writes"]) == 3
    for write in report["writes"]:
        assert write["file"] == 0o600, write
        assert write["folder"] == 0o700, write
        assert all(mode == 0o600 for mode in write["entries"].values()), write


def test_the_token_folder_is_0700_from_its_creation_under_umask_0(tmp_path: Path) -> None:
    home = tmp_path / "home"
    report = run_worker(home)

    tokens = str(home / "tokens")
    assert report["seen"][tokens] == [0o700]
    assert report["final"][tokens] == 0o700
    # Nothing was created loose and fixed afterwards: every mode came from creation.
    # (filelock sets its lock file's mode itself; the lock file holds nothing.)
    fixed = [path for path, _ in report["chmods"] if not path.endswith(".lock")]
    assert fixed == []


def test_no_token_file_is_ever_seen_readable_by_others_under_umask_0(tmp_path: Path) -> None:
    home = tmp_path / "home"
    report = run_worker(home)

    files = {path: modes for path, modes in report["seen"].items() if "/tokens/" in path}
    assert any(path.endswith("/work.json") for path in files), files
    assert any(path.endswith(".tmp") for path in files), "the watcher never saw a temp file"
    for path, modes in files.items():
        assert modes == [0o600], (path, [oct(m) for m in modes])
    final = {p: m for p, m in report["final"].items() if "/tokens/" in p}
    assert sorted(Path(p).name for p in final) == [
        "other.json",
        "other.lock",
        "work.json",
        "work.lock",
    ]
    assert set(final.values()) == {0o600}


def test_folders_pkceflow_creates_above_the_token_folder_are_private_too(tmp_path: Path) -> None:
    # PKCEFLOW_HOME (and its missing parents) did not exist: pkceflow made them, under a
    # umask of 0. A folder open to everyone above the tokens lets another user rename the
    # token folder away and put one of their own in its place.
    home = tmp_path / "missing" / "home"
    report = run_worker(home)

    assert report["seen"][str(home)] == [0o700]
    for folder in (home.parent, home):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_an_existing_token_folder_open_to_others_is_closed_before_any_write(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    report = run_worker(home, "777")

    assert report["writes"][0]["folder"] == 0o700
    assert report["final"][str(home / "tokens")] == 0o700


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_a_cli_login_leaves_only_private_files_whatever_the_umask(
    umask: int, provider: TestProvider, tmp_path: Path
) -> None:
    cli = Cli(tmp_path)
    home = cli.home

    result = cli.login(provider, umask=umask)

    assert result.returncode == 0, result.stderr
    modes = {
        path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.lstat().st_mode)
        for path in [home, *home.rglob("*")]
    }
    assert modes["pkceflow-home/tokens"] == 0o700
    assert modes["pkceflow-home/tokens/work.json"] == 0o600
    assert modes["pkceflow-home/profiles"] == 0o700
    assert modes["pkceflow-home/profiles/work.toml"] == 0o600
    loose = {path: oct(mode) for path, mode in modes.items() if not private(mode)}
    assert loose == {}
