"""Provider plugins tested against the local provider, with their quirks switched on."""

from __future__ import annotations

import attrs
import pluggy

from pkceflow import Client
from pkceflow.memory_store import MemoryStore
from pkceflow.plugins import make_plugin_manager
from pkceflow.settings import Interaction
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from pkceflow_core import ProviderPreset
from pkceflow_core.hookspecs import hookimpl
from tests.support.fixtures import entra, provider, settings

__all__ = ["client_for", "entra", "local", "manager_with", "provider", "settings"]


def local(preset: ProviderPreset, provider: TestProvider) -> ProviderPreset:
    """``preset`` with its URLs pointed at the local provider, everything else kept."""
    if preset.authorization_endpoint is not None:
        return attrs.evolve(
            preset,
            authorization_endpoint=provider.authorization_endpoint,
            token_endpoint=provider.token_endpoint,
            revocation_endpoint=provider.revocation_endpoint,
        )
    assert preset.issuer is not None
    host = "https://login.microsoftonline.com" if "microsoftonline" in preset.issuer else None
    issuer = preset.issuer.replace(host, provider.origin) if host else provider.issuer
    return attrs.evolve(preset, issuer=issuer)


class _Presets:
    def __init__(self, preset: ProviderPreset) -> None:
        self.preset = preset

    @hookimpl
    def pkceflow_provider_presets(self) -> list[ProviderPreset]:
        return [self.preset]


def manager_with(preset: ProviderPreset) -> pluggy.PluginManager:
    """A plugin manager holding only the built-ins and ``preset``."""
    manager = make_plugin_manager(load_entry_points=False)
    manager.register(_Presets(preset))
    return manager


def client_for(
    preset: ProviderPreset, provider: TestProvider, client_id: str, **kwargs: object
) -> Client:
    """``Client.for_provider`` for ``preset`` moved onto ``provider``."""
    return Client.for_provider(
        preset.name,
        client_id,
        plugin_manager=manager_with(local(preset, provider)),
        browser=HttpFollowingBrowser(),
        store=MemoryStore(),
        interaction=Interaction(timeout=20.0),
        **kwargs,  # type: ignore[arg-type]
    )
