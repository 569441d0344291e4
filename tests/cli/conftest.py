"""Fixtures: a TestProvider in this process and the ``pkceflow`` command in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pkceflow.testing import TestProvider

from .helpers import Cli


@pytest.fixture
def provider() -> Iterator[TestProvider]:
    """A running TestProvider on 127.0.0.1; the test fails if it hit an internal error."""
    with TestProvider() as running:
        yield running
    assert not running.errors, "\n".join(running.errors)


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the commands run keep their bytecode, shared by the whole session."""
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def cli(tmp_path: Path, pycache: Path) -> Iterator[Cli]:
    """The ``pkceflow`` command with a PKCEFLOW_HOME of its own and the fake browser."""
    runner = Cli(tmp_path, pycache)
    try:
        yield runner
    finally:
        runner.close()
