"""Token sets in files: one JSON document per profile, private, replaced atomically.

Each file is created 0600 inside a 0700 folder (never readable by others, not even
for a moment), written to a temporary file, fsynced and renamed over the old one,
so a crash leaves either the old or the new token set, never half of one. A lock
file serialises refreshes across processes, so a rotated refresh token is never
lost to a concurrent writer.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pkceflow_core import RestoreError, StoreError, TokenSet

from .paths import (
    UnsafeFileError,
    _write_all,
    data_dir,
    make_private_folders,
    read_private,
    stage_private,
)

__all__ = ["SECRET_NAMESPACE", "FileStore", "check_key", "check_profile_name"]

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
#: Store keys of client secrets are ``client-secret/<profile>``: no profile name holds
#: a ``/``, so no profile can reach another's secret, nor a secret its tokens.
SECRET_NAMESPACE = "client-secret/"
_MAX_FILE = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def check_profile_name(name: str) -> str:
    """Return ``name`` if it is a safe profile name (letters, digits, ``._-``), else StoreError."""
    if not _KEY.match(name):
        raise StoreError(
            f"{name!r} is not a valid profile name: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return name


def check_key(key: str) -> str:
    """Return ``key`` if it is a store key: a profile name, or one in SECRET_NAMESPACE."""
    check_profile_name(key.removeprefix(SECRET_NAMESPACE))
    return key


def _file_stem(key: str) -> str:
    # "@" is in no profile name: a secret's files can never be a profile's.
    return check_key(key).replace("/", "@")


class FileStore:
    """Keeps each profile's token set in ``<directory>/<profile>.json``.

    ``directory`` defaults to ``$PKCEFLOW_HOME/tokens`` or the user's data folder.
    A file that others can read, that is a symlink, or that belongs to another user
    is refused with a StoreError saying how to fix it. ``lock_timeout`` (90 s) is
    longer than the urllib3 transport lets a refresh take (about 60 s), so a waiter
    outlasts a slow holder, and short enough that a stuck one is reported.
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, lock_timeout: float = 90.0
    ):
        self.directory = Path(directory) if directory is not None else data_dir() / "tokens"
        self._lock_timeout = lock_timeout
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._depth: dict[str, int] = {}

    def path(self, key: str) -> Path:
        """The file that holds ``key``'s token set."""
        return self.directory / f"{_file_stem(key)}.json"

    def _ensure_directory(self) -> None:
        try:
            make_private_folders(self.directory)
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(self.directory)
        except OSError as exc:
            raise StoreError(f"cannot create {self.directory}: {exc.strerror}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError(
                f"{self.directory} is not a folder (a symlink or a file is in the way)"
            )
        if info.st_uid != os.getuid():
            raise StoreError(f"{self.directory} belongs to another user; refusing to use it")
        if info.st_mode & 0o077:
            os.chmod(self.directory, 0o700)

    # -- reading -------------------------------------------------------------------

    def load(self, key: str) -> TokenSet | None:
        """Read ``key``'s token set; None when there is none. StoreError if unusable."""
        path = self.path(key)
        try:
            data = read_private(str(path), secret=True, limit=_MAX_FILE)
        except UnsafeFileError as exc:
            raise StoreError(str(exc)) from None
        if data is None:
            return None
        try:
            return TokenSet.from_json(data)
        except RestoreError as exc:
            raise StoreError(
                f"{path} is not a token set this pkceflow can read ({exc});"
                " log in again to replace it"
            ) from None

    # -- writing -------------------------------------------------------------------

    def save(self, key: str, tokens: TokenSet) -> None:
        """Write ``tokens`` for ``key`` atomically; the old file stays on failure."""
        with self.lock(key):
            self._write(key, tokens)

    def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        """Write ``new`` only if ``old`` is what the file holds (under the lock)."""
        with self.lock(key):
            if self.load(key) != old:
                return False
            self._write(key, new)
            return True

    def delete(self, key: str) -> None:
        """Remove ``key``'s file, if there is one."""
        with self.lock(key):
            try:
                os.unlink(self.path(key))
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StoreError(f"cannot remove {self.path(key)}: {exc.strerror}") from None

    def _write(self, key: str, tokens: TokenSet) -> None:
        self._ensure_directory()
        path = self.path(key)
        staged = None
        try:
            staged = stage_private(path, tokens.to_json().encode("utf-8"), write=self._write_fd)
            staged.commit()
        except OSError as exc:
            raise StoreError(
                f"cannot write {path}: {exc.strerror or exc}; the previous login is unchanged"
            ) from None
        finally:
            if staged is not None:
                staged.discard()

    def _remove_stale_temporaries(self, key: str) -> None:
        # Called holding the lock, so no writer of ``key`` is at work: its temporary
        # files were left by one that died before renaming (kill -9, power loss).
        # They hold tokens, so they do not stay.
        stem = re.escape(_file_stem(key))
        pattern = re.compile(rf"\.{stem}\.[0-9]+\.[0-9a-f]{{8}}\.tmp\Z")
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if pattern.match(name):
                _unlink_quietly(self.directory / name)

    def _write_fd(self, fd: int, data: bytes) -> None:
        _write_all(fd, data)

    # -- locking -------------------------------------------------------------------

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold ``key`` against other threads and processes (re-entrant per thread)."""
        import filelock

        check_key(key)
        with self._guard:
            thread_lock = self._locks.setdefault(key, threading.RLock())
        with thread_lock:
            # Only the thread holding thread_lock reads or writes its depth.
            depth = self._depth.get(key, 0)
            self._depth[key] = depth + 1
            try:
                if depth:
                    yield
                    return
                self._ensure_directory()
                file_lock = filelock.FileLock(
                    str(self.directory / f"{_file_stem(key)}.lock"),
                    timeout=self._lock_timeout,
                    mode=0o600,
                    thread_local=False,
                )
                try:
                    # Waiters poll: filelock's 50 ms default made 8 processes miss rounds.
                    file_lock.acquire(poll_interval=0.005)
                except filelock.Timeout:
                    raise StoreError(
                        f"another pkceflow process has held the lock on {key!r} for"
                        f" {self._lock_timeout:g} s"
                    ) from None
                except OSError as exc:
                    # A read-only folder, a full disk, a symlink planted at the lock's
                    # path (never followed): a StoreError like any other store failure.
                    reason = (
                        "it is a symlink; refusing to follow it"
                        if exc.errno == errno.ELOOP
                        else exc.strerror or str(exc)
                    )
                    raise StoreError(
                        f"cannot lock {self.directory / f'{_file_stem(key)}.lock'}: {reason}"
                    ) from None
                try:
                    self._remove_stale_temporaries(key)
                    yield
                finally:
                    file_lock.release()
            finally:
                self._depth[key] = depth


def _read_all(fd: int) -> bytes:
    chunks = []
    size = 0
    while chunk := os.read(fd, 65536):
        size += len(chunk)
        if size > _MAX_FILE:
            raise StoreError("the token file is larger than 1 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _unlink_quietly(path: Path) -> None:
    with suppress(OSError):
        os.unlink(path)
