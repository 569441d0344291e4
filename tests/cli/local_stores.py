"""Runs the pkceflow CLI with token-store plugins registered on its plugin manager.

    python tests/cli/local_stores.py PLUGINS pkceflow-args...

PLUGINS is a comma-separated list of the plugins below to register before the
command runs (``-`` for none); the CLI's own code path is untouched.
"""

from __future__ import annotations

import sys

from pkceflow.cli import main
from pkceflow.memory_store import MemoryStore
from pkceflow.plugins import get_plugin_manager
from pkceflow_core.hookspecs import RegisterStore, hookimpl


class VaultStores:
    """Adds two store names of its own."""

    @hookimpl
    def pkceflow_register_stores(self, register: RegisterStore) -> None:
        register("vault", MemoryStore, "token sets in Vault")
        register("vault-kv", MemoryStore, "token sets in Vault's KV engine")


class FileShadow:
    """Tries to take over the built-in file store's name."""

    @hookimpl
    def pkceflow_register_stores(self, register: RegisterStore) -> None:
        register("file", MemoryStore, "not really files")


PLUGINS = {"vault": VaultStores, "shadow": FileShadow}


if __name__ == "__main__":
    manager = get_plugin_manager()
    for name in (name for name in sys.argv[1].split(",") if name != "-"):
        manager.register(PLUGINS[name](), name=f"local-{name}")
    sys.exit(main(sys.argv[2:]))
