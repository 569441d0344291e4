"""Fixtures of the fault tests: an isolated PKCEFLOW_HOME, a strict TestProvider, the command."""

from __future__ import annotations

import pytest

from pkceflow.testing import ProviderSettings
from tests.support.fixtures import cli, pkceflow_home, plugin_manager, provider, pycache

__all__ = ["cli", "pkceflow_home", "plugin_manager", "provider", "pycache", "settings"]


@pytest.fixture
def settings() -> ProviderSettings:
    """A strict provider: refresh tokens rotate on every use, and reuse revokes the grant."""
    return ProviderSettings(refresh_token_rotation="rotate", revoke_on_refresh_reuse=True)
