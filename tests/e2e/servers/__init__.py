"""Real authorization servers for the end-to-end suite, each behind one interface (base.py).

``load(name)`` imports ``tests/e2e/servers/<module>.py`` only when asked, so that a
server whose module is missing (or whose prerequisites are) costs the others nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from .base import RealServer

#: The servers the scenario matrix (tests/e2e/test_matrix.py) runs against, in order.
SERVER_NAMES: tuple[str, ...] = ("oidc-provider", "dot", "glewlwyd", "keycloak")

SERVERS_DIR = Path(__file__).resolve().parent


class ServerNotWritten(LookupError):
    """The server's module does not exist."""


def module_name(name: str) -> str:
    """The module of a server: ``oidc-provider`` lives in ``oidc_provider.py``."""
    return name.replace("-", "_")


def load(name: str) -> tuple[Callable[[], RealServer], Callable[[], None]]:
    """The ``start`` and ``require`` of server ``name`` (one of :data:`SERVER_NAMES`).

    Raises ServerNotWritten when ``tests/e2e/servers/<module>.py`` does not exist."""
    if name not in SERVER_NAMES:
        raise ValueError(f"unknown server {name!r}; known: {', '.join(SERVER_NAMES)}")
    module = module_name(name)
    if not (SERVERS_DIR / f"{module}.py").is_file():
        raise ServerNotWritten(f"tests/e2e/servers/{module}.py is not written")
    loaded = importlib.import_module(f".{module}", __package__)
    start: Callable[[], RealServer] = loaded.start
    require: Callable[[], None] = loaded.require
    return start, require
