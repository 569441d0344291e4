"""Fixtures for the pkceflow.testing tests.

The plugin's fixtures are imported here as well, so these tests also run when the
``pytest11`` entry point is not installed (``PYTHONPATH=adapters/src``); when it is,
these names simply shadow the plugin's identical fixtures.
"""

from __future__ import annotations

from pkceflow.testing.pytest_plugin import (
    pkceflow_browser,
    pkceflow_provider,
    pkceflow_provider_factory,
)

__all__ = ["pkceflow_browser", "pkceflow_provider", "pkceflow_provider_factory"]
