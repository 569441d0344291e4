"""A complete, minimal pkceflow plugin: one provider preset and one token store.

Install it (``pip install ./docs/plugin-example``) and pkceflow finds it through the
entry-point group ``pkceflow``:

    Client.for_provider("keycloak", "my-app", template_values={"host": ..., "realm": ...})
    Client("my-app", ..., store="sqlite")
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pkceflow_core import ProviderPreset, RestoreError, StoreError, TokenSet
from pkceflow_core.hookspecs import RegisterStore, hookimpl

__all__ = ["KEYCLOAK", "SqliteStore", "sqlite_store"]

# A provider is data: Keycloak serves OpenID discovery under each realm.
KEYCLOAK = ProviderPreset(
    name="keycloak",
    title="Keycloak",
    issuer="https://{host}/realms/{realm}",
    default_scope=("openid", "profile", "offline_access"),
)


class SqliteStore:
    """Token sets in an SQLite file, one row per key; a lock file serialises refreshes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._guard = threading.RLock()
        self._depth = 0
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, data TEXT)")

    def _connect(self) -> sqlite3.Connection:
        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)  # private from the start
        os.close(fd)
        return sqlite3.connect(self._path, timeout=30)

    def load(self, key: str) -> TokenSet | None:
        with self._connect() as db:
            row = db.execute("SELECT data FROM tokens WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return TokenSet.from_json(row[0])
        except RestoreError as exc:
            raise StoreError(f"the stored login for {key!r} is unreadable: {exc}") from None

    def save(self, key: str, tokens: TokenSet) -> None:
        data = tokens.to_json()
        with self._connect() as db:  # one transaction: all or nothing
            db.execute("INSERT OR REPLACE INTO tokens (key, data) VALUES (?, ?)", (key, data))

    def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        with self.lock(key):
            if self.load(key) != old:
                return False
            self.save(key, new)
            return True

    def delete(self, key: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM tokens WHERE key = ?", (key,))

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        # One lock for the whole file keeps the example short; it must be
        # re-entrant, since replace() runs inside a refresh that holds it.
        with self._guard:  # threads of this process
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            fd = os.open(f"{self._path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # other processes
                self._depth = 1
                yield
            finally:
                self._depth = 0
                os.close(fd)


@hookimpl
def pkceflow_provider_presets() -> list[ProviderPreset]:
    return [KEYCLOAK]


def sqlite_store() -> SqliteStore:
    """The store ``--store sqlite`` names: the file $PKCEFLOW_SQLITE, or one here."""
    return SqliteStore(os.environ.get("PKCEFLOW_SQLITE", "pkceflow-tokens.sqlite3"))


@hookimpl
def pkceflow_register_stores(register: RegisterStore) -> None:
    register("sqlite", sqlite_store, "token sets in an SQLite file ($PKCEFLOW_SQLITE)")
