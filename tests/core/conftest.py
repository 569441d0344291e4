"""Shared fixtures for the core's tests: one authorization server and one public client.

The fakes of the ports live in ``tests/core/fakes.py`` and are imported as
``tests.core.fakes`` (``tests/conftest.py`` puts the repository root on ``sys.path``).
"""

from __future__ import annotations

import pytest

from pkceflow_core import ClientConfig, ServerMetadata
from tests.core.fakes import make_server


@pytest.fixture
def server() -> ServerMetadata:
    """An authorization server with an issuer and a revocation endpoint."""
    return make_server()


@pytest.fixture
def client() -> ClientConfig:
    """A public client (no secret, ``none`` authentication)."""
    return ClientConfig("pkceflow-cli")
