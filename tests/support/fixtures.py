"""pytest fixtures more than one suite uses; a suite's conftest imports the ones it wants.

Imported into a conftest, a fixture serves the tests of that folder; a suite may still
define one of the same name (``settings``, say) to change it for its own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

from pkceflow.plugins import make_plugin_manager
from pkceflow.testing import ProviderSettings, TestProvider

from .cli import Cli
from .commands import warm_bytecode

__all__ = ["cli", "entra", "pkceflow_home", "plugin_manager", "provider", "pycache", "settings"]


@pytest.fixture(autouse=True)
def pkceflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PKCEFLOW_HOME (not created: pkceflow makes it)."""
    home = tmp_path / "pkceflow-home"
    monkeypatch.setenv("PKCEFLOW_HOME", str(home))
    return home


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """A fresh manager with only pkceflow's built-in adapters (no entry points)."""
    return make_plugin_manager(load_entry_points=False)


@pytest.fixture
def settings() -> ProviderSettings:
    """The switches ``provider`` starts with: its defaults, unless a suite says otherwise."""
    return ProviderSettings()


@pytest.fixture
def provider(settings: ProviderSettings) -> Iterator[TestProvider]:
    """A running TestProvider on 127.0.0.1; the test fails if it hit an internal error."""
    with TestProvider(settings) as running:
        yield running
    assert not running.errors, "\n".join(running.errors)


@pytest.fixture
def entra() -> Iterator[TestProvider]:
    """A TestProvider answering as Microsoft Entra ID's ``common`` endpoint does: its
    issuer is a template (``{tenantid}``) and ``expires_in`` a string."""
    with TestProvider(issuer_path="/common/v2.0") as running:
        running.settings.templated_issuer = True
        running.settings.expires_in_as_string = True
        yield running
    assert not running.errors, "\n".join(running.errors)


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytecode of the ``pkceflow`` commands, compiled once for the whole session."""
    folder = tmp_path_factory.mktemp("pycache")
    warm_bytecode(folder)
    return folder


@pytest.fixture
def cli(tmp_path: Path, pycache: Path) -> Iterator[Cli]:
    """The ``pkceflow`` command with a home of its own (``tmp_path / "pkceflow-home"``, the
    same as ``pkceflow_home``) and the fake browser; what it left running is stopped."""
    runner = Cli(tmp_path, pycache)
    try:
        yield runner
    finally:
        runner.close()
