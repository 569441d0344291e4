"""Where pkceflow keeps profiles and tokens: $PKCEFLOW_HOME, or the platform's folders."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["config_dir", "data_dir", "make_private_folders"]


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


def make_private_folders(directory: Path) -> None:
    """Create ``directory`` and each missing parent 0700.

    ``Path.mkdir(parents=True)`` makes the parents 0777 less the umask: under umask 0,
    a PKCEFLOW_HOME in which another user could rename a folder away and put their
    own in its place.
    """
    missing: list[Path] = []
    path = directory
    while not path.exists() and path != path.parent:  # bounded by the path's depth
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
