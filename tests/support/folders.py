"""Folders a worker process is to lose the right to write in."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NOBODY", "read_only_folder"]

#: The uid (and gid) of ``nobody`` on Debian.
NOBODY = 65534


@contextlib.contextmanager
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, int | None]]:
    """A folder for a worker that makes it read-only itself, and the uid to run it as.

    Folder permissions do not bind root: as root the worker is to drop to ``nobody``
    (the uid given), in a folder of nobody's outside pytest's temporary root (which is
    private to root); otherwise the uid is None and the folder is in ``tmp_path``. The
    folder is made writable again afterwards (and, as root, removed).
    """
    uid = NOBODY if os.geteuid() == 0 else None
    if uid is None:
        directory = tmp_path / "read-only"
        directory.mkdir(mode=0o700)
    else:
        directory = Path(tempfile.mkdtemp(prefix="pkceflow-read-only-"))
        os.chown(directory, NOBODY, NOBODY)
    try:
        yield directory, uid
    finally:
        directory.chmod(0o700)
        if uid is not None:
            shutil.rmtree(directory)
