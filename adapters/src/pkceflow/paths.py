"""Where pkceflow keeps profiles and tokens: $PKCEFLOW_HOME, or the platform's folders."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_dir", "data_dir"]


def _home() -> Path | None:
    value = os.environ.get("PKCEFLOW_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Profiles live here: ``$PKCEFLOW_HOME`` or the user's config folder."""
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_config_dir("pkceflow", appauthor=False))


def data_dir() -> Path:
    """Token files and lock files live here: ``$PKCEFLOW_HOME`` or the user's data folder."""
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_data_dir("pkceflow", appauthor=False))
