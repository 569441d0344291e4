"""A token store in memory: for one process, tests, and programs that persist elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pkceflow_core import TokenSet

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps token sets in a dict; ``lock`` serialises threads of this process."""

    def __init__(self) -> None:
        self._data: dict[str, TokenSet] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}

    def load(self, key: str) -> TokenSet | None:
        """The token set stored under ``key``, or None."""
        return self._data.get(key)

    def save(self, key: str, tokens: TokenSet) -> None:
        """Store ``tokens`` under ``key``."""
        self._data[key] = tokens

    def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        """Store ``new`` if ``old`` is what is stored; False otherwise."""
        with self.lock(key):
            if self._data.get(key) != old:
                return False
            self._data[key] = new
            return True

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._data.pop(key, None)

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold ``key`` against other threads of this process (re-entrant)."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.RLock())
        with lock:
            yield
