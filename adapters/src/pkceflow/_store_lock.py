"""One lock per store key, held against the process's other threads and other processes.

The file store and the keyring store both serialise refreshes with it: a rotated
refresh token is never lost to a concurrent writer, whichever store keeps it.
:class:`LockedStore` is what they build on it: ``lock`` and ``replace``.
"""

from __future__ import annotations

import abc
import errno
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from pkceflow_core import StoreError, TokenSet

from .paths import UnsafeFileError, make_private_folder

__all__ = ["LockedStore", "StoreLock"]


class StoreLock:
    """Per-key locks: a re-entrant thread lock, and a lock file for other processes.

    The lock file of ``key`` is ``<folder>/<stem(key)>.lock``, 0600 in a folder made
    private (0700); ``stem`` also refuses an invalid key (StoreError). It is taken
    only by the outermost hold of a thread, and ``acquired(key)`` runs once it is:
    no other holder of ``key`` is at work then. A wait longer than ``timeout``
    seconds is a StoreError saying so, as is a folder or lock file that cannot be
    used (a symlink planted at the lock's path is never followed).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        stem: Callable[[str], str],
        timeout: float = 90.0,
        acquired: Callable[[str], None] | None = None,
    ) -> None:
        #: The folder of the lock files.
        self.folder = Path(folder)
        self._stem = stem
        self._timeout = timeout
        self._acquired = acquired
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._depth: dict[str, int] = {}

    def path(self, key: str) -> Path:
        """The lock file of ``key``."""
        return self.folder / f"{self._stem(key)}.lock"

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold ``key`` against other threads and processes (re-entrant per thread)."""
        path = self.path(key)
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
                release = self._acquire_file(key, path)
                try:
                    if self._acquired is not None:
                        self._acquired(key)
                    yield
                finally:
                    release()
            finally:
                self._depth[key] = depth

    def _acquire_file(self, key: str, path: Path) -> Callable[[], object]:
        import filelock

        try:
            make_private_folder(self.folder)
        except UnsafeFileError as exc:
            raise StoreError(str(exc)) from None
        file_lock = filelock.FileLock(
            str(path), timeout=self._timeout, mode=0o600, thread_local=False
        )
        try:
            # Waiters poll: filelock's 50 ms default made 8 processes miss rounds.
            file_lock.acquire(poll_interval=0.005)
        except filelock.Timeout:
            raise StoreError(
                f"another pkceflow process has held the lock on {key!r} for {self._timeout:g} s"
            ) from None
        except OSError as exc:
            # A read-only folder, a full disk, a symlink planted at the lock's path.
            reason = (
                "it is a symlink; refusing to follow it"
                if exc.errno == errno.ELOOP
                else exc.strerror or str(exc)
            )
            raise StoreError(f"cannot lock {path}: {reason}") from None
        return file_lock.release


class LockedStore(abc.ABC):
    """A token store whose keys are held with a :class:`StoreLock` (``_locks``).

    ``save`` takes the lock itself; ``replace`` compares and saves under it.
    """

    _locks: StoreLock

    @abc.abstractmethod
    def load(self, key: str) -> TokenSet | None:
        """``key``'s token set; None when there is none."""

    @abc.abstractmethod
    def save(self, key: str, tokens: TokenSet) -> None:
        """Write ``tokens`` for ``key`` (under the lock)."""

    def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        """Write ``new`` only if ``old`` is what the store holds (under the lock)."""
        with self.lock(key):
            if self.load(key) != old:
                return False
            self.save(key, new)
            return True

    def lock(self, key: str) -> AbstractContextManager[None]:
        """Hold ``key`` against other threads and processes (re-entrant per thread)."""
        return self._locks.hold(key)
