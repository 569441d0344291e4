"""paths.py's private files: checks made on what was opened, writes no one else can see."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pkceflow import StoreError
from pkceflow.paths import (
    UnsafeFileError,
    make_private_folder,
    read_private,
    remove_temporaries,
    stage_private,
)
from pkceflow.profiles import Profile, load_profile, save_profile

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def private_file(path: Path, content: bytes = b"kept") -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------- reading


def test_a_missing_file_or_folder_reads_as_none(tmp_path: Path) -> None:
    assert read_private(str(tmp_path / "none.json"), secret=True) is None
    assert read_private(str(tmp_path / "no-folder" / "none.json"), secret=True) is None


def test_a_private_file_reads_back(tmp_path: Path) -> None:
    path = private_file(tmp_path / "f" / "a.json", b"\x00" * 70_000)
    assert read_private(str(path), secret=True) == b"\x00" * 70_000


def test_a_file_in_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    private_file(tmp_path / "real" / "a.json")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafeFileError, match=r"link is not a folder \(a symlink"):
        read_private(str(tmp_path / "link" / "a.json"), secret=True)


def test_a_profile_others_can_read_is_read_but_not_one_they_can_change(tmp_path: Path) -> None:
    # A profile holds no secret: only who can change it matters. A token file is a secret.
    path = private_file(tmp_path / "f" / "p.toml")
    path.chmod(0o644)
    assert read_private(str(path), secret=False) == b"kept"
    with pytest.raises(UnsafeFileError, match=r"can be read by other users \(mode 644\)"):
        read_private(str(path), secret=True)
    path.chmod(0o664)
    with pytest.raises(UnsafeFileError, match=r"can be changed by other users \(mode 664\)"):
        read_private(str(path), secret=False)


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = private_file(tmp_path / "f" / "a.json", b"x" * 101)
    with pytest.raises(UnsafeFileError, match="larger than 100 bytes"):
        read_private(str(path), secret=True, limit=100)


# --------------------------------------------------------------------------- writing


def test_a_staged_file_is_private_and_replaces_only_on_commit(tmp_path: Path) -> None:
    path = private_file(tmp_path / "f" / "a.json", b"old")
    staged = stage_private(path, b"new")
    try:
        [temporary] = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
        assert temporary.name.startswith(f".a.{os.getpid()}.")
        assert mode(temporary) == 0o600
        assert path.read_bytes() == b"old"
        staged.commit()
    finally:
        staged.discard()
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_a_discarded_file_leaves_nothing_and_cannot_be_committed(tmp_path: Path) -> None:
    path = tmp_path / "f" / "a.json"
    staged = stage_private(path, b"new")
    staged.discard()
    staged.discard()  # twice is harmless
    assert list(path.parent.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        staged.commit()


def test_missing_folders_are_made_0700_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        make_private_folder(tmp_path / "a" / "b")
    finally:
        os.umask(previous)
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (0o700, 0o700)


def test_writing_into_a_symlinked_folder_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeFileError, match=r"link is not a folder \(a symlink"):
        stage_private(tmp_path / "link" / "a.json", b"new")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_profile_is_not_written_through_a_symlinked_profiles_folder(pkceflow_home: Path) -> None:
    (pkceflow_home / "elsewhere").mkdir(mode=0o700, parents=True)
    (pkceflow_home / "profiles").symlink_to(pkceflow_home / "elsewhere")
    with pytest.raises(StoreError, match=r"cannot save the profile .*is not a folder"):
        save_profile(Profile(name="work", client_id="c"))
    assert list((pkceflow_home / "elsewhere").iterdir()) == []


def test_a_profiles_folder_open_to_others_is_made_private_when_written(
    pkceflow_home: Path,
) -> None:
    (pkceflow_home / "profiles").mkdir(parents=True)
    (pkceflow_home / "profiles").chmod(0o777)
    save_profile(Profile(name="work", client_id="c"))
    assert mode(pkceflow_home / "profiles") == 0o700
    assert load_profile("work") == Profile(name="work", client_id="c")


@root_only
def test_a_profiles_folder_of_another_user_is_refused_when_written(pkceflow_home: Path) -> None:
    (pkceflow_home / "profiles").mkdir(mode=0o700, parents=True)
    os.chown(pkceflow_home / "profiles", 4242, 4242)
    with pytest.raises(StoreError, match="belongs to another user"):
        save_profile(Profile(name="work", client_id="c"))
    assert list((pkceflow_home / "profiles").iterdir()) == []


def test_only_a_dead_writers_temporaries_of_that_file_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir(mode=0o700)
    stale = [".a.123.0123456789abcdef.tmp", ".a.9.01234567.tmp"]
    kept = [".a.b.1.0123456789abcdef.tmp", ".ab.1.0123456789abcdef.tmp", ".a.1.xyz.tmp", "a.json"]
    for name in stale + kept:
        (folder / name).write_bytes(b"")
    remove_temporaries(folder / "a.json")
    assert sorted(p.name for p in folder.iterdir()) == sorted(kept)
