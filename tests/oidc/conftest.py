"""Fixtures of the OpenID Connect tests: the TestProvider, shared with the other suites."""

from __future__ import annotations

from tests.support.fixtures import provider, settings

__all__ = ["provider", "settings"]
