"""Token sets in the operating system's keychain, through the keyring package."""

from __future__ import annotations

import os
from typing import Any

from pkceflow_core import RestoreError, StoreError, TokenSet

from ._store_lock import LockedStore, StoreLock
from .file_store import check_key, file_stem
from .paths import data_dir

__all__ = ["KeyringStore"]


def _keyring() -> Any:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise StoreError(
            "the keyring store needs the keyring package: pip install 'pkceflow[keyring]'"
        ) from None
    backend = keyring.get_keyring()
    if (
        type(backend).__module__.startswith("keyring.backends.fail")
        or getattr(backend, "priority", 1) <= 0
    ):
        raise StoreError(
            "no usable keyring backend is installed (no OS keychain was found);"
            " install one, such as keyrings.alt, or use the file store (--store file)"
        )
    return keyring


class KeyringStore(LockedStore):
    """Keeps each profile's token set as one keychain entry of ``service``.

    Refreshes are serialised across processes with lock files in ``lock_directory``
    (default: ``locks`` in pkceflow's data folder), as the file store serialises its
    own (the keychain has no locks of its own); ``lock_timeout`` is the file store's.
    Raises StoreError, naming the fix, when no keyring backend is available.
    """

    def __init__(
        self,
        service: str = "pkceflow",
        *,
        lock_directory: str | os.PathLike[str] | None = None,
        lock_timeout: float = 90.0,
    ) -> None:
        self._keyring = _keyring()
        self._service = service
        folder = lock_directory or data_dir() / "locks"
        self._locks = StoreLock(folder, stem=file_stem, timeout=lock_timeout)

    def _call(self, what: str, fn: Any, *args: str) -> Any:
        import keyring.errors

        try:
            return fn(self._service, *args)
        except (keyring.errors.KeyringError, OSError) as exc:  # file-backed ones raise OSError
            raise StoreError(f"the keyring could not {what}: {type(exc).__name__}") from None

    def load(self, key: str) -> TokenSet | None:
        """Read ``key``'s token set from the keychain; None when there is none."""
        raw = self._call("read the login", self._keyring.get_password, check_key(key))
        if raw is None:
            return None
        try:
            return TokenSet.from_json(raw)
        except RestoreError:
            raise StoreError(
                f"the keyring entry for {key!r} is not a token set; log in again to replace it"
            ) from None

    def save(self, key: str, tokens: TokenSet) -> None:
        """Write ``tokens`` to the keychain."""
        data = tokens.to_json()
        with self.lock(key):
            self._call("store the login", self._keyring.set_password, check_key(key), data)

    def delete(self, key: str) -> None:
        """Remove ``key``'s entry, if there is one."""
        import keyring.errors

        with self.lock(key):
            try:
                self._keyring.delete_password(self._service, check_key(key))
            except keyring.errors.PasswordDeleteError:
                return
            except (keyring.errors.KeyringError, OSError) as exc:
                raise StoreError(
                    f"the keyring could not delete the login: {type(exc).__name__}"
                ) from None
