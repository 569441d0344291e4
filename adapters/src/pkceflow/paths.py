"""Where pkceflow keeps profiles and tokens: $PKCEFLOW_HOME, or the platform's folders."""

from __future__ import annotations

import contextlib
import os

# pathlib is imported where a Path is made: ``pkceflow token``'s fast path reads
# these folders as strings and does not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["config_dir", "data_dir", "folders", "make_private_folders"]


def folders() -> tuple[str, str]:
    """The config folder (profiles) and the data folder (tokens, locks), as strings.

    Both are ``$PKCEFLOW_HOME`` when it is set, else the user's platform folders.
    """
    home = os.environ.get("PKCEFLOW_HOME")
    if home:
        home = os.path.expanduser(home)
        return home, home
    import platformdirs

    return (
        platformdirs.user_config_dir("pkceflow", appauthor=False),
        platformdirs.user_data_dir("pkceflow", appauthor=False),
    )


def config_dir() -> Path:
    """Profiles live here: ``$PKCEFLOW_HOME`` or the user's config folder."""
    from pathlib import Path

    return Path(folders()[0])


def data_dir() -> Path:
    """Token files and lock files live here: ``$PKCEFLOW_HOME`` or the user's data folder."""
    from pathlib import Path

    return Path(folders()[1])


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
