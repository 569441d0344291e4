"""Token sets in files: one JSON document per profile, private, replaced atomically.

Each file is created 0600 inside a 0700 folder (never readable by others, not even
for a moment), written to a temporary file, fsynced and renamed over the old one,
so a crash leaves either the old or the new token set, never half of one. A lock
file serialises refreshes across processes, so a rotated refresh token is never
lost to a concurrent writer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pkceflow_core import RestoreError, StoreError, TokenSet

from ._store_lock import LockedStore, StoreLock
from .paths import (
    UnsafeFileError,
    data_dir,
    read_private,
    remove_temporaries,
    stage_private,
    write_all,
)

__all__ = ["SECRET_NAMESPACE", "FileStore", "check_key", "check_profile_name", "file_stem"]

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
#: Store keys of client secrets are ``client-secret/<profile>``: no profile name holds
#: a ``/``, so no profile can reach another's secret, nor a secret its tokens.
SECRET_NAMESPACE = "client-secret/"
_MAX_FILE = 1 << 20


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


def file_stem(key: str) -> str:
    """The name ``key``'s files start with (StoreError if ``key`` is not a store key).

    ``client-secret/work`` becomes ``client-secret@work``: "@" is in no profile name,
    so a secret's files can never be a profile's.
    """
    return check_key(key).replace("/", "@")


class FileStore(LockedStore):
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
        self._locks = StoreLock(
            self.directory,
            stem=file_stem,
            timeout=lock_timeout,
            acquired=self._remove_stale_temporaries,
        )

    def path(self, key: str) -> Path:
        """The file that holds ``key``'s token set."""
        return self.directory / f"{file_stem(key)}.json"

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
        path = self.path(key)
        staged = None
        try:
            staged = stage_private(path, tokens.to_json().encode("utf-8"), write=self._write_fd)
            staged.commit()
        except UnsafeFileError as exc:  # the folder: a symlink, another user's
            raise StoreError(str(exc)) from None
        except OSError as exc:
            raise StoreError(
                f"cannot write {path}: {exc.strerror or exc}; the previous login is unchanged"
            ) from None
        finally:
            if staged is not None:
                staged.discard()

    def _remove_stale_temporaries(self, key: str) -> None:
        # Run by the lock once it is taken: no writer of ``key`` is at work, so its
        # temporary files are a dead writer's.
        remove_temporaries(self.path(key))

    def _write_fd(self, fd: int, data: bytes) -> None:
        # Every byte of a token file goes through here (the fault tests fill the disk).
        write_all(fd, data)
