"""Fixtures: a TestProvider in this process and the ``pkceflow`` command in a subprocess."""

from __future__ import annotations

from tests.support.fixtures import cli, entra, provider, pycache, settings

__all__ = ["cli", "entra", "provider", "pycache", "settings"]
