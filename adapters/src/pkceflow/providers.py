"""The installed provider presets, from every plugin's ``pkceflow_provider_presets``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pkceflow_core import ProviderPreset, UsageError

if TYPE_CHECKING:
    import pluggy

__all__ = ["find_preset", "installed_presets"]


def installed_presets(manager: pluggy.PluginManager) -> dict[str, ProviderPreset]:
    """Every preset the plugins supply, by name. UsageError when two share a name."""
    presets: dict[str, ProviderPreset] = {}
    for answer in manager.hook.pkceflow_provider_presets():
        for preset in answer:
            if not isinstance(preset, ProviderPreset):
                raise UsageError(f"a plugin returned {type(preset).__name__} as a provider preset")
            if preset.name in presets and presets[preset.name] != preset:
                raise UsageError(f"two installed plugins both provide {preset.name!r}")
            presets[preset.name] = preset
    return dict(sorted(presets.items()))


def find_preset(manager: pluggy.PluginManager, name: str) -> ProviderPreset:
    """The preset called ``name``; UsageError naming the installed ones otherwise."""
    presets = installed_presets(manager)
    try:
        return presets[name]
    except KeyError:
        known = ", ".join(presets) or "none"
        raise UsageError(
            f"no provider plugin called {name!r} is installed (installed: {known});"
            f" pip install pkceflow-{name}, if it exists"
        ) from None
