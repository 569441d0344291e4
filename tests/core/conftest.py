"""Shared fixtures for the core's tests: one authorization server and one public client.

The fakes of the ports live in ``tests/core/fakes.py`` and are imported as
``tests.core.fakes``; the repository root is put on ``sys.path`` for that when pytest
was started some other way than ``python -m pytest`` from the root.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pkceflow_core import ClientConfig, ServerMetadata

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from tests.core.fakes import make_server  # noqa: E402


@pytest.fixture
def server() -> ServerMetadata:
    """An authorization server with an issuer and a revocation endpoint."""
    return make_server()


@pytest.fixture
def client() -> ClientConfig:
    """A public client (no secret, ``none`` authentication)."""
    return ClientConfig("pkceflow-cli")
