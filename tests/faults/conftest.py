"""Fixtures of the fault tests: an isolated PKCEFLOW_HOME, a TestProvider, the command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

from pkceflow.plugins import make_plugin_manager
from pkceflow.testing import ProviderSettings, TestProvider

from .support import Cli, warm_bytecode


@pytest.fixture(autouse=True)
def pkceflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PKCEFLOW_HOME, in this process and in the commands it runs."""
    home = tmp_path / "pkceflow-home"
    monkeypatch.setenv("PKCEFLOW_HOME", str(home))
    return home


@pytest.fixture
def settings() -> ProviderSettings:
    """A strict provider: refresh tokens rotate on every use, and reuse revokes the grant."""
    return ProviderSettings(refresh_token_rotation="rotate", revoke_on_refresh_reuse=True)


@pytest.fixture
def provider(settings: ProviderSettings) -> Iterator[TestProvider]:
    """A running TestProvider on 127.0.0.1; the test fails if it hit an internal error."""
    with TestProvider(settings) as running:
        yield running
    assert not running.errors, "\n".join(running.errors)


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """Only pkceflow's built-in adapters (no entry points)."""
    return make_plugin_manager(load_entry_points=False)


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytecode of the commands, compiled once for the whole session."""
    folder = tmp_path_factory.mktemp("pycache")
    warm_bytecode(folder)
    return folder


@pytest.fixture
def cli(pkceflow_home: Path, pycache: Path) -> Cli:
    """The ``pkceflow`` command with this test's PKCEFLOW_HOME."""
    return Cli(pkceflow_home, pycache)
