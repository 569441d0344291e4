"""Runs the pkceflow CLI with provider presets pointed at a local TestProvider.

    python tests/cli/local_presets.py ORIGIN pkceflow-args...

Registers, before the command runs, a plugin whose presets are the installed
GitHub and Microsoft ones with their URLs moved to ORIGIN; the CLI's own code
path is untouched.
"""

from __future__ import annotations

import sys

import attrs

from pkceflow.cli import main
from pkceflow.plugins import get_plugin_manager
from pkceflow_core import ProviderPreset
from pkceflow_core.hookspecs import hookimpl
from pkceflow_github import PRESET as GITHUB
from pkceflow_microsoft import PRESET as MICROSOFT


class LocalPresets:
    def __init__(self, origin: str) -> None:
        self.presets = [
            attrs.evolve(
                GITHUB,
                name="local-github",
                authorization_endpoint=f"{origin}/authorize",
                token_endpoint=f"{origin}/token",
            ),
            attrs.evolve(MICROSOFT, name="local-microsoft", issuer=f"{origin}/{{tenant}}/v2.0"),
        ]

    @hookimpl
    def pkceflow_provider_presets(self) -> list[ProviderPreset]:
        return self.presets


if __name__ == "__main__":
    get_plugin_manager().register(LocalPresets(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
